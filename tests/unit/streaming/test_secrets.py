"""The one masking rule, as the manifest, run_results, logs and errors all apply it."""

from __future__ import annotations

from tauro_compile.streaming.secrets import MASK, mask_structure, mask_text


def test_mask_structure_masks_by_key_by_value_and_inline() -> None:
    doc = {
        "options": {"kafka.sasl.jaas.config": "x required password=\"p4ss\";",
                    "kafka.ssl.truststore.password": None,
                    "api_key": ["k1", "k2"], "topic": "events"},
        # An inline credential under an innocent key: the compiler's old fast copy missed it.
        "url": "jdbc:postgresql://db/x?user=a&password=hunter22",
        "env": "${secret:DB_TOKEN} and s3cr3t-value",
        "numbers": [1, 2.5, True, None],
    }
    masked = mask_structure(doc, ("s3cr3t-value",))
    assert masked["options"] == {"kafka.sasl.jaas.config": MASK,
                                 "kafka.ssl.truststore.password": None,
                                 "api_key": MASK, "topic": "events"}
    assert masked["url"] == "jdbc:postgresql://db/x?user=a&password=***"
    assert masked["env"] == "*** and ***"
    assert masked["numbers"] == [1, 2.5, True, None]
    assert doc["options"]["api_key"] == ["k1", "k2"]  # a copy: the input is untouched


def test_mask_text_leaves_plain_text_alone() -> None:
    text = "SELECT a = 1 FROM t"
    assert mask_text(text) == text
    assert mask_text("token=abc;rest") == "token=***;rest"
