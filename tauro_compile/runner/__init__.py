"""Supervises a compiled RunPlan on Spark: start order, node states, restarts, stop, results.

`plan` is the compiler -> runner interface; `execute.execute_plan` runs a plan on a
SparkSession; `supervisor.RunSupervisor` holds the rules and works on any `engine.QueryEngine`
(`spark_engine.SparkQueryEngine` for real runs). Nothing is imported here, so the compiler's
`from tauro_compile.runner.plan import ...` stays cheap and never touches pyspark.
"""
