"""Python transforms of this project, referenced from node files as `transforms.<module>:<function>`."""
