"""What the reader and writer factories share: create, register, unregister, list by format.

Both are views of the one format registry (`formats`), one per role: a source format's spec
names its reader, a sink format's spec its writer.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from tauro_compile.errors import did_you_mean
from tauro_compile.streaming import formats
from tauro_compile.streaming.exceptions import (
    StreamingFormatNotSupportedError,
    create_error_context,
)


class RegistryFactory:
    """Creates implementations by format name from the registry; `register` adds one to it."""

    role: ClassVar[Literal["source", "sink"]]
    kind: ClassVar[str]      # "reader" or "writer", as messages say it
    field: ClassVar[str]     # the node field naming the format

    @classmethod
    def create(cls, format: Any, context: Any) -> Any:
        """An implementation for `format` (a name or a StreamingFormat) bound to `context`."""
        name = str(getattr(format, "value", format))
        spec = formats.source(name) if cls.role == "source" else formats.sink(name)
        if spec is None or spec.implementation is None:
            supported = cls.supported_formats()
            raise StreamingFormatNotSupportedError(
                f"no streaming {cls.kind} for {cls.field.split('.')[0]} format '{name}'",
                context=create_error_context(f"create_{cls.kind}", cls.__name__,
                                             field=cls.field,
                                             expected=f"one of: {', '.join(supported)}",
                                             actual=name),
                hint=did_you_mean(name, supported) or f"supported: {', '.join(supported)}",
            )
        return formats.implementation_of(spec)(context)

    @classmethod
    def register(cls, name: str, implementation: type,
                 spec: formats.FormatSpec | None = None) -> None:
        """Add (or replace) an implementation; its FormatSpec joins the registry so validation
        accepts it. Without `spec`, a registered format keeps its spec and a new one gets a
        permissive spec (no required path or options). `unregister` undoes it."""
        formats.register_implementation(name, cls.role, implementation, spec)

    @classmethod
    def unregister(cls, name: str) -> None:
        """Forget a registration; a built-in format name gets its built-in implementation back."""
        formats.unregister_format(name, cls.role)

    @classmethod
    def supported_formats(cls) -> list[str]:
        specs = formats.sources() if cls.role == "source" else formats.sinks()
        return sorted(n for n, spec in specs.items() if spec.implementation)
