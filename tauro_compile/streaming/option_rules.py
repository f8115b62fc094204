"""Values of the source options whose meaning Spark defines, checked before a query starts.

Options pass through to Spark as strings; Spark parses these ones itself and refuses a bad
value only when the query starts (or, for some, silently ignores a misspelt name). Each
rule here mirrors how Spark reads the option (`toInt` > 0, Scala `toBoolean`, an enum
compared case-insensitively, a JSON offsets object), so the compiler refuses exactly what
Spark would. Unknown option names close to a known one get a did-you-mean *warning*:
options pass through, so an unknown name is never refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tauro_compile.errors import did_you_mean

Rule = Callable[[str], str | None]   # the option's text -> what was expected, None when fine


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def positive_integer(text: str) -> str | None:
    try:
        ok = int(text.strip()) > 0
    except ValueError:
        ok = False
    return None if ok else "a positive integer"


def boolean(text: str) -> str | None:
    return None if text.strip().lower() in ("true", "false") else "true or false"


def one_of(*choices: str) -> Rule:
    def rule(text: str) -> str | None:
        return None if text.strip().lower() in {c.lower() for c in choices} else \
            f"one of: {', '.join(choices)}"
    return rule


def offsets(*words: str) -> Rule:
    def rule(text: str) -> str | None:
        if text.strip().lower() in words:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and all(
            isinstance(parts, dict) and all(isinstance(v, int) for v in parts.values())
            for parts in data.values()
        ):
            return None
        return (f"{' or '.join(words)}, or a JSON object "
                '{"topic": {"0": 23, "1": -2}} (-2 earliest, -1 latest)')
    return rule


KAFKA_SOURCE_RULES: dict[str, Rule] = {
    "startingOffsets": offsets("earliest", "latest"),
    "failOnDataLoss": boolean,
    "maxOffsetsPerTrigger": positive_integer,
    "minOffsetsPerTrigger": positive_integer,
    "minPartitions": positive_integer,
    "includeHeaders": boolean,
    "kafka.security.protocol": one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
}
FILE_SOURCE_RULES: dict[str, Rule] = {
    "maxFilesPerTrigger": positive_integer,
    "latestFirst": boolean,
    "fileNameOnly": boolean,
    "cleanSource": one_of("archive", "delete", "off"),
    "recursiveFileLookup": boolean,
    "multiLine": boolean,
    "header": boolean,
}
RULES: dict[str, dict[str, Rule]] = {"kafka": KAFKA_SOURCE_RULES, "file_stream": FILE_SOURCE_RULES}
# Options Spark refuses on a stream, with the reason it gives.
REFUSED: dict[str, dict[str, str]] = {
    "kafka": {
        "endingOffsets": "endingOffsets is for batch queries; a stream has no end offset",
        "kafka.auto.offset.reset": "set `startingOffsets` instead",
        "kafka.key.deserializer": "keys are always read as bytes; cast them in a transform",
        "kafka.value.deserializer": "values are always read as bytes; use parse_json or a cast",
        "kafka.enable.auto.commit": "Spark tracks offsets in the checkpoint, not in Kafka",
        "kafka.interceptor.classes": "consumer interceptors are not supported by Spark",
    },
}
KNOWN: dict[str, frozenset[str]] = {
    "kafka": frozenset({
        *KAFKA_SOURCE_RULES, "assign", "subscribe", "subscribePattern", "endingOffsets",
        "startingTimestamp", "startingOffsetsByTimestamp", "startingOffsetsByTimestampStrategy",
        "kafkaConsumer.pollTimeoutMs", "fetchOffset.numRetries", "fetchOffset.retryIntervalMs",
        "maxTriggerDelay", "groupIdPrefix", "topic",
    }),
    "file_stream": frozenset({
        *FILE_SOURCE_RULES, "maxFileAge", "sourceArchiveDir", "pathGlobFilter",
        "modifiedBefore", "modifiedAfter", "maxBytesPerTrigger", "mode",
        "columnNameOfCorruptRecord", "dateFormat", "timestampFormat", "timestampNTZFormat",
        "encoding", "charset", "lineSep", "sep", "delimiter", "quote", "escape", "comment",
        "inferSchema", "ignoreLeadingWhiteSpace", "ignoreTrailingWhiteSpace", "nullValue",
        "nanValue", "positiveInf", "negativeInf", "emptyValue", "locale", "enforceSchema",
        "samplingRatio", "maxColumns", "maxCharsPerColumn", "unescapedQuoteHandling",
        "preferDate", "primitivesAsString", "prefersDecimal", "allowComments",
        "allowUnquotedFieldNames", "allowSingleQuotes", "allowNumericLeadingZeros",
        "allowBackslashEscapingAnyCharacter", "allowUnquotedControlChars",
        "dropFieldIfAllNull", "mergeSchema", "datetimeRebaseMode", "int96RebaseMode",
        "wholetext", "compression", "rowsPerSecond",
    }),
    "delta": frozenset({
        "ignoreDeletes", "ignoreChanges", "skipChangeCommits", "startingVersion",
        "startingTimestamp", "maxFilesPerTrigger", "maxBytesPerTrigger", "readChangeFeed",
        "withEventTimeOrder", "schemaTrackingLocation", "failOnDataLoss",
    }),
    "rate": frozenset({"rowsPerSecond", "rampUpTime", "numPartitions"}),
    "socket": frozenset({"host", "port", "includeTimestamp"}),
}
KNOWN["delta_stream"] = KNOWN["delta"]
SINK_KNOWN: dict[str, frozenset[str]] = {
    "delta": frozenset({
        "mergeSchema", "overwriteSchema", "txnAppId", "txnVersion", "userMetadata",
        "optimizeWrite", "dataChange", "partitionOverwriteMode", "replaceWhere",
        "maxRecordsPerFile", "compression",
    }),
    "kafka": frozenset({"topic", "includeHeaders"}),
    "console": frozenset({"numRows", "truncate"}),
    "parquet": frozenset({"compression", "maxRecordsPerFile", "partitionOverwriteMode"}),
    "json": frozenset({"compression", "maxRecordsPerFile", "dateFormat", "timestampFormat",
                       "ignoreNullFields", "lineSep", "encoding"}),
}


def value_issues(format_name: str, options: Mapping[str, Any]) -> list[tuple[str, str, str, str | None]]:
    """(option, message, expected, hint) for every option value Spark would refuse."""
    found = []
    refused = REFUSED.get(format_name, {})
    for key, value in options.items():
        if key in refused:
            found.append((key, f"option `{key}` is not supported on a {format_name} stream",
                          "no such option", refused[key]))
            continue
        rule = RULES.get(format_name, {}).get(key)
        expected = rule(_text(value)) if rule else None
        if expected is not None:
            found.append((key, f"invalid value for option `{key}`", expected, None))
    if format_name == "file_stream" and _text(options.get("cleanSource", "")).lower() == \
            "archive" and "sourceArchiveDir" not in options:
        found.append(("sourceArchiveDir", "`cleanSource: archive` needs `sourceArchiveDir`",
                      "a directory to move processed files to", None))
    return found


def name_warnings(format_name: str, options: Mapping[str, Any], *,
                  sink: bool = False) -> list[tuple[str, str]]:
    """(option, did-you-mean) for unknown option names close to a known one of the format."""
    known = (SINK_KNOWN if sink else KNOWN).get(format_name)
    if not known:
        return []
    warnings = []
    for key in options:
        if key in known or key.startswith("kafka."):
            continue
        near = did_you_mean(key, known) or did_you_mean(key.lower(), {k.lower(): k for k in known})
        if near:
            warnings.append((key, near))
    return warnings
