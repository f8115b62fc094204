"""Python transforms of the clickstream project (`python: transforms.events:<function>`)."""
