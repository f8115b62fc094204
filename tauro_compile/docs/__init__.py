"""The project's documentation page: lineage graph and per-node details in one HTML file."""
