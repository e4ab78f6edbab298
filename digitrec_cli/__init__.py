"""The command line, `digitrec` (or `python -m digitrec_cli`): the original script's workflow for people who live
in a terminal. A front end on `digitrec_core`, beside the dashboard (`digitrec_app`); the core imports neither.

main (the entry point: parse, dispatch, one line per failure), parser (the arguments, one builder a command),
terminal (Ctrl-C, progress lines, warnings), and the commands: learn (train, finetune), sweep, classify
(evaluate, predict), manage (models, activate, export, digits), serve (app).
"""
