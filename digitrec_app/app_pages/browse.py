import numpy as np
import plotly.graph_objects as go
import streamlit as st

from digitrec_app.ui import navigation, resources
from digitrec_app.ui.components import digit_image, probability_chart, verdict
from digitrec_app.ui.figures import confusion_figure
from digitrec_core import MnistError, ModelStoreError
from digitrec_core.text import plural

navigation.title("browse")
try:
    data = resources.mnist()
    loaded = resources.active_model()
except (MnistError, ModelStoreError) as e:
    st.error(resources.explain(e))
    st.stop()
if loaded.notice:
    st.warning(loaded.notice)
report = resources.test_report(loaded.info.name)
n = data.n_test
wrong = report.misclassified

# Streamlit forgets a widget's value while its page is not shown; `browse_index` remembers it.
if "test_index" not in st.session_state:
    st.session_state.test_index = st.session_state.get("browse_index", 0)


def go_to(i: int) -> None:
    st.session_state.test_index = int(i) % n


def next_wrong() -> None:
    later = wrong[wrong > st.session_state.test_index]
    go_to(later[0] if len(later) else wrong[0])


st.caption(f"Model `{loaded.info.name}`: {report.accuracy:.2%} of the {n:,} test digits right, {len(wrong)} wrong.")
c = st.columns([3, 1, 1, 1, 2], vertical_alignment="bottom")
c[0].number_input(f"Choose a test index (0–{n - 1})", min_value=0, max_value=n - 1, step=1, key="test_index")
c[1].button("Previous", icon=":material/chevron_left:", on_click=lambda: go_to(st.session_state.test_index - 1),
            width="stretch")
c[2].button("Next", icon=":material/chevron_right:", icon_position="right",
            on_click=lambda: go_to(st.session_state.test_index + 1), width="stretch")
c[3].button("Random", icon=":material/casino:", on_click=lambda: go_to(np.random.randint(n)), width="stretch")
c[4].button("Next misclassified", icon=":material/skip_next:", icon_position="right", on_click=next_wrong,
            disabled=len(wrong) == 0, width="stretch")

i = st.session_state.browse_index = st.session_state.test_index
probs = report.probabilities[i]
left, mid, right = st.columns([2, 2, 4])
with left:
    digit_image(data.x_test[i], caption=f"test digit #{i}")
with mid:
    verdict(int(data.y_test[i]), int(probs.argmax()))
    st.metric("Confidence", f"{probs.max():.1%}")
with right:
    probability_chart(probs, key="test_probs")

st.divider()
st.subheader("Where the model goes wrong")
h1, h2 = st.columns([3, 2])
with h1:
    st.plotly_chart(confusion_figure(report.confusion), key="confusion", config={"displayModeBar": False})
with h2:
    per_class = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=report.recall,
                                 text=[f"{r:.1%}" for r in report.recall], textposition="outside",
                                 marker_color="#1c83e1"))
    lo = max(0.0, float(report.recall.min()) - 0.02)
    per_class.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), title="Accuracy per digit",
                            yaxis=dict(range=[lo, 1.005], tickformat=".1%"), xaxis=dict(type="category"))
    st.plotly_chart(per_class, key="per_class", config={"displayModeBar": False})

pairs = sorted(
    ((int(report.confusion[t, p]), t, p) for t in range(10) for p in range(10) if t != p and report.confusion[t, p]),
    reverse=True,
)
if pairs:
    choice = st.selectbox(
        "Show the digits of one kind of mistake",
        [(t, p) for _, t, p in pairs],
        format_func=lambda tp: f"true {tp[0]} read as {tp[1]} ({plural(int(report.confusion[tp]), 'digit')})",
        key="mistake_pair",
    )
    t, p = choice
    idx = [k for k in wrong if data.y_test[k] == t and report.predictions[k] == p]
    cols = st.columns(8)
    for j, k in enumerate(idx[:24]):
        with cols[j % 8]:
            digit_image(data.x_test[k], size=84)
            st.button(f"#{k}", key=f"open_{k}", on_click=go_to, args=(k,), width="stretch")
    if len(idx) > 24:
        st.caption(f"…and {len(idx) - 24} more.")
else:
    st.success("No mistakes on the test set.")
