"""`tauro run`'s front end over the streaming layer's runtime core.

`execute.execute_plan` runs a compiled `RunPlan` under the core's `RunSupervisor` with the
Spark engine, and adds what a person at a terminal needs: signals, the live display, the
summary and `target/run_results.json`. `python_paths.project_imports` makes the project's
modules importable for the run. Nothing is imported here, so importing the package is free.
"""
