"""Tauro: a dbt-style compiler and runner for Spark Structured Streaming pipelines."""

from __future__ import annotations

__version__ = "0.1.0"
