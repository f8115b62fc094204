"""What Tauro needs from the machine (Java, the pinned jars, pyspark/delta) and how to get it.

Used before the driver JVM starts (so a missing Java is named, not a py4j stack trace), by
`tauro debug` and by `tauro --version`. Nothing here imports pyspark or starts a JVM.

Hints are true where they are printed: `make setup` is only suggested when Tauro runs from
the virtualenv of a Tauro checkout (where that target exists); elsewhere the hint is the
Maven command that fetches the jars with the pom shipped inside the package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MIN_JAVA = 17
PACKAGE_DIR = Path(__file__).resolve().parent
SPARK_JARS_POM = PACKAGE_DIR / "resources" / "jars" / "spark" / "pom.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
REQUIRED_JAR_PREFIXES = ("delta-spark_", "delta-storage-", "spark-sql-kafka-", "kafka-clients-")
_JAVA_VERSION = re.compile(r'version "(?P<v>[^"]+)"')

JAVA_INSTALL_HINT = (
    f"install a Java {MIN_JAVA} (or newer) runtime and put it on PATH, or set JAVA_HOME: "
    f"Debian/Ubuntu `sudo apt-get install openjdk-{MIN_JAVA}-jre-headless`; "
    f"macOS `brew install openjdk@{MIN_JAVA}` (then follow brew's note to link it)"
)


@dataclass(frozen=True)
class JavaInfo:
    """The `java` Spark would start, and its version."""

    path: str | None
    version: str | None = None
    major: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.major is not None and self.major >= MIN_JAVA

    def problem(self) -> tuple[str, str] | None:
        """(message, hint) when this Java cannot run Spark, else None."""
        if self.path is None:
            where = "JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "PATH"
            return (f"Java was not found (looked on {where}); Spark {spark_line()} needs Java "
                    f"{MIN_JAVA} or newer", JAVA_INSTALL_HINT)
        if self.major is None:
            return (f"could not tell the version of {self.path}: {self.error or 'no answer'}",
                    JAVA_INSTALL_HINT)
        if self.major < MIN_JAVA:
            return (f"Java {self.version} at {self.path} is too old; Spark {spark_line()} needs "
                    f"Java {MIN_JAVA} or newer", JAVA_INSTALL_HINT)
        return None


def spark_line() -> str:
    return package_version("pyspark") or "4"


def java_executable() -> str | None:
    """The java binary Spark's launcher uses: $JAVA_HOME/bin/java, else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def find_java(timeout: float = 20.0) -> JavaInfo:
    """Locate java and read its version (`java -version`, a fraction of a second)."""
    path = java_executable()
    if path is None:
        return JavaInfo(None)
    try:
        done = subprocess.run([path, "-version"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return JavaInfo(path, error=f"{type(exc).__name__}: {exc}")
    text = done.stderr + done.stdout
    match = _JAVA_VERSION.search(text)
    if not match:
        first = text.strip().splitlines()[0] if text.strip() else f"exit code {done.returncode}"
        return JavaInfo(path, error=first)
    version = match["v"]
    return JavaInfo(path, version, java_major(version))


def java_major(version: str) -> int | None:
    """17 for "17.0.15", 8 for "1.8.0_392"."""
    parts = re.findall(r"\d+", version)
    if not parts:
        return None
    major = int(parts[0])
    return int(parts[1]) if major == 1 and len(parts) > 1 else major


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def checkout_dir() -> Path | None:
    """The Tauro checkout this interpreter's virtualenv belongs to, when it is one.

    True when the package is installed from a source tree holding the Makefile and
    scripts/setup.sh, and this interpreter is that tree's `.venv`: then `make setup` exists.
    """
    root = PACKAGE_DIR.parent
    if not ((root / "Makefile").is_file() and (root / "scripts" / "setup.sh").is_file()):
        return None
    try:
        in_its_venv = Path(sys.prefix).resolve() == (root / ".venv").resolve()
    except OSError:
        return None
    return root if in_its_venv else None


def fetch_jars_command(jars_dir: Path) -> str:
    """The Maven command that puts the pinned jars into `jars_dir` (needs mvn and Java)."""
    return (f"mvn -q -f {SPARK_JARS_POM} {DEPENDENCY_PLUGIN}:copy-dependencies "
            f"-DincludeScope=runtime -DoutputDirectory={jars_dir}")


def jars_hint(jars_dir: Path) -> str:
    """How to get the pinned Delta/Kafka jars into `jars_dir`, true for where Tauro runs."""
    checkout = checkout_dir()
    if checkout is not None:
        return f"run `make setup` in {checkout} (it fetches the pinned jars from Maven Central)"
    return (f"fetch them from Maven Central with Maven (needs `mvn` and Java {MIN_JAVA}): "
            f"{fetch_jars_command(jars_dir)} -- or set $TAURO_JARS_DIR to a directory "
            "that already holds them")


def missing_jars(found: list[str]) -> list[str]:
    """Required jar name prefixes with no matching file among `found` (paths or names)."""
    names = [Path(f).name for f in found]
    return [p.rstrip("_-") for p in REQUIRED_JAR_PREFIXES
            if not any(n.startswith(p) for n in names)]


def versions_text(java: JavaInfo | None = None) -> str:
    """`tauro --version`: tauro, pyspark, delta-spark and Java, one per line."""
    from tauro_compile import __version__

    java = java or find_java()
    if java.path is None:
        java_text = "not found"
    elif java.version:
        java_text = f"{java.version} ({java.path})"
    else:
        java_text = f"unknown ({java.path}: {java.error})"
    rows = [("tauro", __version__), ("pyspark", package_version("pyspark") or "not installed"),
            ("delta-spark", package_version("delta-spark") or "not installed"),
            ("python", sys.version.split()[0]), ("java", java_text)]
    return "\n".join(f"{name:<12} {value}" for name, value in rows)


def process_started_at() -> float:
    """When this process started (epoch seconds): the time a user pressed Enter.

    Read from /proc on Linux; elsewhere the time this module was first imported (the
    interpreter's own start-up, a few hundred milliseconds, is then not counted).
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat(5), counted after the command name
        with open("/proc/stat", encoding="ascii") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT


_IMPORTED_AT = __import__("time").time()
