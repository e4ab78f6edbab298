import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitrec_cli.main import main
from tests.support import ROOT
from tests.support.cli import run_cli
from tests.support.drawings import draw_one
from tests.support.mnist import make_synthetic, own_hand, write_idx


def test_train_then_models_as_a_user_would(tmp_path):
    """The whole command, in a fresh process, on data the test writes itself."""
    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    out = run_cli("train", "--arch", "seed", "--epochs", "5", "--lr", "0.001", "--plot", str(tmp_path / "curves.png"),
                  "--activate", "always", "--negatives", "0.5", env=env)
    assert out.returncode == 0, out.stderr
    assert "negatives=0.5" in out.stderr
    [meta] = (tmp_path / "home" / "models").glob("*/meta.json")
    meta = json.loads(meta.read_text())
    assert meta["hyperparameters"]["negatives"] == 0.5 and 0 < meta["digit_threshold"] <= 1
    assert re.search(r"^Test Loss: \d+\.\d{4}$", out.stdout, re.M)
    accuracy = float(re.search(r"^Test Accuracy: (\d+\.\d\d)%$", out.stdout, re.M).group(1))
    assert accuracy > 90
    assert "Epoch 5/5" in out.stderr
    with Image.open(tmp_path / "curves.png") as img:
        assert img.size[0] > 500
    listing = run_cli("models", env=env)
    assert listing.returncode == 0
    active = [line for line in listing.stdout.splitlines() if line.startswith("* seed-")]
    assert len(active) == 1 and f"{accuracy:.2f}%" in active[0]


def test_a_worse_run_is_kept_but_not_activated(tmp_path):
    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    good = run_cli("train", "--arch", "seed", "--epochs", "4", "--lr", "0.001", "--activate", "always", env=env)
    assert good.returncode == 0, good.stderr
    bad = run_cli("train", "--arch", "seed", "--epochs", "1", "--lr", "0.00001", env=env)
    assert bad.returncode == 0, bad.stderr
    assert "Trained 1 epoch on 540 images" in bad.stdout
    assert re.search(r"^MNIST test accuracy\s+\d+\.\d\d%\s+\d+\.\d\d%$", bad.stdout, re.M)
    assert "Not made active" in bad.stdout
    new = re.search(r"digitrec activate (\S+)", bad.stdout).group(1)
    listing = run_cli("models", env=env).stdout
    assert f"  {new}" in listing and not re.search(rf"^\* {new}", listing, re.M)
    assert run_cli("activate", new, env=env).returncode == 0
    assert re.search(rf"^\* {new}", run_cli("models", env=env).stdout, re.M)


def test_finetune_prints_before_and_after(tmp_path):
    from digitrec_core.personal import PersonalDigits

    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    few = run_cli("finetune", env=env)
    assert few.returncode == 2 and "Error: Fine-tuning needs at least" in few.stderr and "Traceback" not in few.stderr
    # The default (batch-normalised) network, as users fine-tune: its frozen statistics keep it steady.
    assert run_cli("train", "--epochs", "3", "--no-augment", "--activate", "always", env=env).returncode == 0
    personal = PersonalDigits(tmp_path / "home")
    for digit, label in zip(*own_hand(60)):
        personal.add(digit, int(label))
    out = run_cli("finetune", "--epochs", "2", env=env)
    assert out.returncode == 0, out.stderr
    before, after = map(float, re.search(r"^Held-out personal accuracy: (\d+\.\d\d)% -> (\d+\.\d\d)%$",
                                         out.stdout, re.M).groups())
    assert after > before
    assert re.search(r"^MNIST test accuracy: \d+\.\d\d% -> \d+\.\d\d%$", out.stdout, re.M)
    assert "Fine-tuned default-" in out.stdout and "for 2 epochs" in out.stdout
    assert re.search(r"^held-out personal accuracy\s+\d+\.\d\d%\s+\d+\.\d\d%$", out.stdout, re.M)
    # The log-loss, which decides when the accuracies tie, is shown as a number, and so is what decided.
    loss_before, loss_after = map(float, re.search(r"^Held-out personal log-loss: (\d+\.\d{3}) -> (\d+\.\d{3})$",
                                                   out.stdout, re.M).groups())
    assert loss_after < loss_before
    assert re.search(r"^held-out personal log-loss\s+\d+\.\d{3}\s+\d+\.\d{3}$", out.stdout, re.M)
    assert re.search(r"^Decided by: (MNIST test accuracy|held-out personal (accuracy|log-loss))\.$", out.stdout, re.M)


def test_missing_data_is_one_clear_line(tmp_path):
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "nowhere"), "DIGITREC_HOME": str(tmp_path / "home")}
    out = run_cli("train", "--epochs", "1", env=env)
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "nowhere" in errors[0] and "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory, mnist_dir):
    """A store holding one seed network trained briefly on real MNIST."""
    home = tmp_path_factory.mktemp("home")
    env = {"DIGITREC_MNIST_DIR": str(mnist_dir), "DIGITREC_HOME": str(home)}
    out = run_cli("train", "--arch", "seed", "--epochs", "2", "--limit", "6000", "--activate", "always", env=env)
    assert out.returncode == 0, out.stderr
    return env


@pytest.fixture
def cli_env(trained_home, monkeypatch):
    for k, v in trained_home.items():
        monkeypatch.setenv(k, v)


@pytest.mark.mnist
def test_evaluate_prints_metrics_and_confusion_matrix(cli_env, capsys):
    assert main(["evaluate"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"Test Accuracy: (\d+\.\d\d)%", out).group(1))
    assert accuracy > 90
    rows = [line for line in out.splitlines() if re.match(r"^\s+\d \s", line)]
    assert len(rows) == 10
    assert sum(int(n) for line in rows for n in line.split()[1:11]) == 10_000


@pytest.mark.mnist
def test_predict_index(cli_env, capsys, real_mnist, tmp_path):
    assert main(["predict", "--index", "0", "--plot", str(tmp_path / "d.png")]) == 0
    out = capsys.readouterr().out
    assert "Expected: 7" in out and re.search(r"^Predicted: \d$", out, re.M)
    assert (tmp_path / "d.png").stat().st_size > 1000
    assert main(["predict", "--index", "10000"]) == 2


@pytest.mark.mnist
def test_interactive_prompt_asks_again_on_bad_input(cli_env, capsys, monkeypatch, real_mnist):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("seven\n12345\n1\n"))
    assert main(["predict"]) == 0
    out = capsys.readouterr().out
    assert out.count("Choose a test index (0–9999): ") == 3
    assert "'seven' is not a whole number" in out and "12345 is outside 0–9999" in out
    assert f"Expected: {real_mnist.y_test[1]}" in out


@pytest.mark.mnist
def test_predict_image(cli_env, capsys, tmp_path):
    draw_one(tmp_path / "one.png")
    assert main(["predict", "--image", str(tmp_path / "one.png")]) == 0
    assert "Predicted: 1" in capsys.readouterr().out
    Image.new("RGB", (100, 100), "white").save(tmp_path / "blank.png")
    assert main(["predict", "--image", str(tmp_path / "blank.png")]) == 2
    assert "no digit" in capsys.readouterr().err
    (tmp_path / "notes.png").write_text("not an image")
    assert main(["predict", "--image", str(tmp_path / "notes.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error:") and "notes.png" in err


@pytest.mark.mnist
def test_python_m_reads_the_prompt_from_stdin(trained_home):
    out = run_cli("predict", env=trained_home, stdin="abc\n0\n")
    assert out.returncode == 0, out.stderr
    assert "is not a whole number" in out.stdout and "Expected: 7" in out.stdout


def test_export_refuses_a_file_or_a_foreign_folder_before_training_and_replaces_an_old_export(tmp_path):
    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    (tmp_path / "notes.txt").write_text("mine")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    for target, says in ((tmp_path / "notes.txt", "is a file"), (folder, "already holds other files (thesis.tex)")):
        out = run_cli("train", "--arch", "seed", "--epochs", "1", "--export", str(target), env=env)
        assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr
        assert "Epoch 1/1" not in out.stderr  # refused before training, not after
    assert (folder / "thesis.tex").read_text() == "years of work" and (tmp_path / "notes.txt").read_text() == "mine"

    export = tmp_path / "export"
    names = []
    for _ in range(2):  # the second export replaces the first, whole
        out = run_cli("train", "--arch", "seed", "--epochs", "1", "--export", str(export), env=env)
        assert out.returncode == 0, out.stderr
        assert sorted(p.name for p in export.iterdir()) == ["meta.json", "model.keras", "model.onnx"]
        names.append(json.loads((export / "meta.json").read_text())["name"])
    assert names[0] != names[1]
    forced = run_cli("train", "--arch", "seed", "--epochs", "1", "--export", str(folder), "--force", env=env)
    assert forced.returncode == 0, forced.stderr  # asked to: the foreign folder is replaced whole
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.keras", "model.onnx"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_models_always_lists_the_pretrained_model_and_marks_the_active_one(tmp_path):
    from digitrec_core.store import shipped_info

    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    shipped = shipped_info().name
    assert re.search(rf"^\* {shipped}\s+pretrained", run_cli("models", env=env).stdout, re.M)
    assert run_cli("train", "--arch", "seed", "--epochs", "1", "--activate", "always", env=env).returncode == 0
    listing = run_cli("models", env=env).stdout
    assert re.search(rf"^  {shipped}\s+pretrained", listing, re.M) and re.search(r"^\* seed-", listing, re.M)
    assert run_cli("activate", shipped, env=env).returncode == 0
    assert re.search(rf"^\* {shipped}\s+pretrained", run_cli("models", env=env).stdout, re.M)


def test_ctrl_c_at_the_prompt_leaves_without_a_traceback(tmp_path, monkeypatch, capsys):
    write_idx(tmp_path / "data", make_synthetic(600, 200))
    monkeypatch.setenv("DIGITREC_MNIST_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DIGITREC_HOME", str(tmp_path / "home"))

    def ctrl_c(prompt):
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", ctrl_c)
    with pytest.raises(SystemExit) as stopped:
        main(["predict"])
    assert stopped.value.code == 130


BUSY_PROBE = """
import sys
import digitrec_cli.learn as learn
from digitrec_cli.main import main

def no_data(*args, **kwargs):
    raise SystemExit("loaded MNIST")

learn.load_mnist = no_data
rc = main(sys.argv[1:])
print(f"rc={rc} tensorflow={'tensorflow' in sys.modules} keras={'keras' in sys.modules}")
"""


@pytest.mark.parametrize("command", [["train", "--epochs", "1"], ["finetune"]])
def test_train_says_busy_before_loading_data_or_tensorflow(tmp_path, command):
    from digitrec_core.jobs import StoreLock

    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {**os.environ, "DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    with StoreLock(tmp_path / "home") as lock:
        lock.acquire("DigitRec dashboard, default")  # another process training: this one
        out = subprocess.run([sys.executable, "-c", BUSY_PROBE, *command], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
    assert "rc=2 tensorflow=False keras=False" in out.stdout, (out.stdout, out.stderr)
    assert out.stderr.startswith("Error: The model store is busy") and "DigitRec dashboard, default" in out.stderr
    assert "loaded MNIST" not in out.stderr and "Traceback" not in out.stderr


def test_train_with_the_mirrored_strategy_says_where_it_trains(tmp_path):
    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    out = run_cli("train", "--arch", "seed", "--epochs", "1", "--strategy", "mirrored", env=env)
    assert out.returncode == 0, out.stderr
    assert "MirroredStrategy" in out.stderr and re.search(r"^Test Accuracy: \d+\.\d\d%$", out.stdout, re.M)
    bad = run_cli("train", "--strategy", "multiworker", env=env)
    assert bad.returncode == 2 and "invalid choice: 'multiworker'" in bad.stderr


# ---- predict: "not a digit" below the model's threshold (issue 20) ------------------------------------


def store_shipped_copy(home, name: str, threshold: float | None) -> None:
    """The shipped model's files stored as `name`, with `threshold` as its "not a digit" threshold (None: a
    model saved before DigitRec had one)."""
    import shutil

    from digitrec_core.store import SHIPPED_DIR

    folder = home / "models" / name
    shutil.copytree(SHIPPED_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(name=name, digit_threshold=threshold)
    (folder / "meta.json").write_text(json.dumps(meta))


def draw_dot(path) -> None:
    """One click on paper: a dot, which every drawing's 20 px box stretches into a disc."""
    img = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(img).ellipse((130, 130, 150, 150), fill="black")
    img.save(path)


@pytest.mark.parametrize("source", ["image", "index"])
def test_predict_says_not_a_digit_below_the_models_threshold_and_nothing_new_without_one(
        source, tmp_path, monkeypatch, capsys):
    from digitrec_core import canvas_to_mnist, load_model, predict_proba, read_image

    home = tmp_path / "home"
    monkeypatch.setenv("DIGITREC_HOME", str(home))
    draw_dot(tmp_path / "dot.png")
    dot = canvas_to_mnist(read_image(tmp_path / "dot.png"))
    if source == "image":
        argv, image, expected = ["--image", str(tmp_path / "dot.png")], dot, []
    else:  # the dot as test digit #0 of a test set labelled 3
        data = make_synthetic(600, 200)
        data.x_test[0], data.y_test[0] = np.round(dot * 255).astype(np.uint8), 3
        write_idx(tmp_path / "data", data)
        monkeypatch.setenv("DIGITREC_MNIST_DIR", str(tmp_path / "data"))
        argv, image, expected = ["--index", "0"], data.x_test[0], ["Expected: 3"]

    store_shipped_copy(home, "old", None)
    probs = predict_proba(load_model("old").model, image)[0]
    likely, p = int(probs.argmax()), float(probs.max())
    assert p < 1  # so a threshold can lie above it
    top = f"Top probabilities: {likely}: {p:.1%}, "
    assert main(["predict", *argv, "--model", "old"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:-1] == [*expected, f"Predicted: {likely}"] and lines[-1].startswith(top)

    store_shipped_copy(home, "strict", (p + 1) / 2)
    assert main(["predict", *argv, "--model", "strict", "--plot", str(tmp_path / "d.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    article = "an" if likely == 8 else "a"
    assert lines[:-2] == [*expected, f"Not a digit (looks most like {article} {likely}, {p:.1%})"]
    assert lines[-2].startswith(top) and lines[-1] == f"Image written to {tmp_path / 'd.png'}."
    assert (tmp_path / "d.png").stat().st_size > 1000


NOISE = re.compile(r"^(I0000|W0000|E0000|WARNING:)|oneDNN", re.M)  # TensorFlow's, absl's and XLA's own lines


def test_train_keeps_tensorflows_log_lines_out_of_the_terminal_unless_verbose(tmp_path, monkeypatch):
    """As a user runs it: no TF_CPP_MIN_LOG_LEVEL of their own (conftest sets one for the tests' processes)."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    write_idx(tmp_path / "data", make_synthetic(600, 200))
    env = {"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home")}
    for flags in ([], ["--verbose"]):
        out = run_cli(*flags, "train", "--arch", "seed", "--epochs", "2", "--limit", "300", "--activate", "always",
                      env=env)
        assert out.returncode == 0, out.stderr
        if not flags:
            assert not NOISE.search(out.stdout + out.stderr), out.stderr
        # The speed as the dashboard writes it, once an epoch after the validation scores: `1,234 images/s`.
        speeds = re.findall(r"^  val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4} - ([\d,.]+) images/s$", out.stderr, re.M)
        assert len(speeds) == 2 and all(re.fullmatch(r"\d{1,3}(,\d{3})*", s) for s in speeds), out.stderr
        assert "img/s" not in out.stderr
    listing = run_cli("models", env=env)  # the label beside the name: what it is, how good, when
    assert listing.returncode == 0 and not NOISE.search(listing.stderr), listing.stderr
    assert re.search(r"^\* seed-\S+\s+seed · 270 images · \d+\.\d\d% · \d+ [A-Z][a-z]{2} \d\d:\d\d\s", listing.stdout,
                     re.M), listing.stdout


def test_train_draws_its_non_digits_in_a_second_process_or_else_leaves_them_to_train(monkeypatch):
    import concurrent.futures

    from digitrec_cli.learn import drawn_aside
    from digitrec_core import TrainConfig
    from digitrec_core.learning.negatives import for_training

    data = make_synthetic(60, 10)
    cfg = TrainConfig(limit=50, validation_split=0.2, negatives=0.5).resolved(data.n_train)
    with drawn_aside(data, cfg) as drawn:
        images = drawn()
    assert np.array_equal(images, for_training(40, 0.5, cfg.seed)) and len(images) > 10  # 40 trained on, 20 drawn
    with drawn_aside(data, TrainConfig(negatives=0.0).resolved(data.n_train)) as drawn:
        assert drawn() is None  # none to draw: no process either

    def no_process(*args, **kwargs):
        raise OSError("no second process here")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_process)
    with drawn_aside(data, cfg) as drawn:
        assert drawn() is None  # `train` draws them itself
