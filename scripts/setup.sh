#!/usr/bin/env bash
# Idempotent set-up of a Tauro checkout (run by `make setup`, `make test`, `make demo`):
#   1. .venv with Python 3.11 (created only if missing; $PYTHON picks the interpreter),
#   2. `pip install -e '.[dev,connect]'` into it (PyPI; `connect`: the Spark Connect client),
#   3. the pinned JVM jars from Maven Central (tauro_compile/resources/jars/spark/pom.xml, shipped
#      with the package, and scripts/jars/kafka-broker/pom.xml, via mvn) into
#      .venv/share/tauro/jars/spark/ and .venv/share/tauro/jars/kafka-broker/.
#   4. only with --browser (`make test` passes it): Debian's `chromium` package, for the tests
#      that open the docs page in a real headless browser; installed with apt-get when missing
#      and running as root, otherwise a note says why those tests will be skipped.
# Each step records the hash of its inputs in .stamps/ and is skipped while that hash matches
# and its outputs exist, so a second run takes well under a second.
# Maven is pointed at Maven Central only (a generated settings.xml mirrors every repository to
# it); $TAURO_MAVEN_SETTINGS overrides that file. Nothing here runs at Spark run time.
set -euo pipefail

WANT_BROWSER=0
for arg in "$@"; do
    case "$arg" in
        --browser) WANT_BROWSER=1 ;;
        *) printf 'setup: unknown option %s (known: --browser)\n' "$arg" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMPS="$ROOT/.stamps"
JARS_ROOT="$VENV/share/tauro/jars"
MAVEN_CENTRAL="https://repo.maven.apache.org/maven2"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Bump to force every step to run again after a change to this script's logic.
SETUP_VERSION=1

log() { printf 'setup: %s\n' "$*"; }
die() {
    printf '\nsetup: ERROR: %s\n' "$*" >&2
    exit 1
}

hash_of() {
    # sha256 of the given files' contents plus any extra words, as one hex string.
    local extra="$1"
    shift
    { printf '%s\n' "$extra" "$SETUP_VERSION"; cat "$@"; } | sha256sum | cut -d' ' -f1
}

stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_write() {
    mkdir -p "$STAMPS"
    printf '%s\n' "$2" >"$STAMPS/$1"
}

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [[ -n "$candidate" ]] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# --------------------------------------------------------------------------- 1. virtualenv
if [[ ! -x "$VENV/bin/python" ]]; then
    py="$(find_python)" || die "Python 3.11 not found: install it or set PYTHON=/path/to/python3.11"
    log "creating .venv with $py"
    "$py" -m venv "$VENV" || die "could not create $VENV with $py"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    die "$VENV does not run Python 3.11; remove it (rm -rf .venv) and run make setup again"
# Identifies this particular venv, so a recreated .venv invalidates every stamp.
VENV_ID="$(stat -c '%i:%Y' "$VENV/pyvenv.cfg")"

# --------------------------------------------------------------------------- 2. editable install
pip_hash="$(hash_of "$VENV_ID" pyproject.toml)"
if stamp_ok pip "$pip_hash" && [[ -x "$VENV/bin/tauro" ]]; then
    log "python packages up to date"
else
    log "installing tauro-compile in editable mode with its dev and connect extras (pip)"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet -e ".[dev,connect]" ||
        die "pip install -e '.[dev,connect]' failed (see the pip output above)"
    stamp_write pip "$pip_hash"
fi

# --------------------------------------------------------------------------- 3. JVM jars
maven_settings=""
cleanup() { [[ -z "$maven_settings" || -n "${TAURO_MAVEN_SETTINGS:-}" ]] || rm -f "$maven_settings"; }
trap cleanup EXIT

maven_settings_file() {
    if [[ -n "${TAURO_MAVEN_SETTINGS:-}" ]]; then
        maven_settings="$TAURO_MAVEN_SETTINGS"
    elif [[ -z "$maven_settings" ]]; then
        maven_settings="$(mktemp "${TMPDIR:-/tmp}/tauro-maven-settings.XXXXXX")"
        # Every repository a pom declares (Spark's parent adds a GCS mirror) goes to Central.
        cat >"$maven_settings" <<EOF
<settings>
  <mirrors>
    <mirror>
      <id>maven-central-only</id>
      <name>Maven Central</name>
      <mirrorOf>*</mirrorOf>
      <url>$MAVEN_CENTRAL</url>
    </mirror>
  </mirrors>
</settings>
EOF
    fi
}

verify_spark_jars() {
    # The jars must add Delta and the Kafka connector and nothing pyspark already ships.
    "$VENV/bin/python" - "$1" <<'EOF'
import re
import sys
import zipfile
from pathlib import Path

import pyspark

ours = sorted(Path(sys.argv[1]).glob("*.jar"))
shipped = sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))
if not shipped:
    sys.exit("pyspark/jars/ is empty: is pyspark installed in .venv?")


def artifact(path: Path) -> str:
    return re.sub(r"-\d.*$", "", path.name.removesuffix(".jar"))


problems = []
names = {artifact(p) for p in ours}
for needed in ("delta-spark_2.13", "delta-storage", "spark-sql-kafka", "kafka-clients"):
    if needed not in names:
        problems.append(f"missing {needed}")
pyspark_names = {artifact(p): p.name for p in shipped}
for jar in ours:
    if artifact(jar) in pyspark_names:
        problems.append(f"{jar.name} duplicates pyspark's {pyspark_names[artifact(jar)]}")

# Class-level check: the only classes allowed in both are stubs every Spark jar carries.
benign = re.compile(r"(^|/)module-info\.class$|^org/apache/spark/unused/UnusedStubClass\.class$")
owner = {}
for jar in shipped:
    with zipfile.ZipFile(jar) as zf:
        for name in zf.namelist():
            if name.endswith(".class"):
                owner.setdefault(name, jar.name)
for jar in ours:
    with zipfile.ZipFile(jar) as zf:
        clash = [n for n in zf.namelist() if n in owner and not benign.search(n)]
    if clash:
        problems.append(f"{jar.name} has {len(clash)} classes also in pyspark, e.g. {clash[0]} in {owner[clash[0]]}")

if problems:
    sys.exit("spark jars rejected:\n  " + "\n  ".join(problems))
EOF
}

verify_kafka_broker_jars() {
    compgen -G "$1/kafka_2.13-*.jar" >/dev/null || { echo "kafka_2.13 jar missing" >&2; return 1; }
    compgen -G "$1/slf4j-reload4j-*.jar" >/dev/null || { echo "slf4j binding missing" >&2; return 1; }
}

fetch_jars() {
    local name="$1" pom="${2:-scripts/jars/$1/pom.xml}" dest="$JARS_ROOT/$1"
    [[ -f "$pom" ]] || die "$pom is missing"
    local jars_hash
    jars_hash="$(hash_of "$VENV_ID $DEPENDENCY_PLUGIN" "$pom")"
    if stamp_ok "jars-$name" "$jars_hash" && compgen -G "$dest/*.jar" >/dev/null; then
        log "$name jars up to date ($(find "$dest" -name '*.jar' | wc -l) in ${dest#"$ROOT/"})"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 ||
        die "Maven (mvn) is needed to fetch the pinned jars from Maven Central (Debian: apt-get install maven)"
    command -v java >/dev/null 2>&1 || die "Java 17 is needed (Debian: apt-get install openjdk-17-jdk-headless)"
    maven_settings_file
    log "fetching $name jars from Maven Central ($pom)"
    local tmp="$dest.partial"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    local mvn_log="$STAMPS/mvn-$name.log"
    mkdir -p "$STAMPS"
    if ! mvn -B -q -s "$maven_settings" -f "$pom" \
        "$DEPENDENCY_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp" -Dmdep.overWriteReleases=true \
        >"$mvn_log" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" >&2
        rm -rf "$tmp"
        die "mvn could not fetch the $name jars (Maven output above, also in ${mvn_log#"$ROOT/"}; is Maven Central reachable?)"
    fi
    local verify="verify_${name//-/_}_jars"
    if ! "$verify" "$tmp"; then
        rm -rf "$tmp"
        die "the fetched $name jars failed verification (see above); check $pom"
    fi
    rm -rf "$dest"
    mv "$tmp" "$dest"
    stamp_write "jars-$name" "$jars_hash"
    log "$name jars: $(find "$dest" -name '*.jar' | wc -l) in ${dest#"$ROOT/"}"
}

fetch_jars spark tauro_compile/resources/jars/spark/pom.xml
fetch_jars kafka-broker

# ------------------------------------------------------------- 3b. the driver's class archive
# A CDS archive of the classes a Spark + Delta driver loads (tauro_compile/streaming/
# jvm_archive.py): every driver JVM Tauro (and the test suite) starts maps it, which halves
# its start. Named after the JDK and the jars, so it is built again only when they change
# (~50 s, once). Only speed depends on it: a failure is reported and set-up goes on.
if ! "$VENV/bin/python" -m tauro_compile.streaming.jvm_archive | sed 's/^/setup: /'; then
    log "WARNING: no class archive (see above): Spark drivers will start without it, slower"
fi

# --------------------------------------------------------------------------- 4. browser (tests)
if [[ "$WANT_BROWSER" == 1 ]]; then
    if command -v chromium >/dev/null 2>&1 || [[ -n "${TAURO_CHROMIUM:-}" ]]; then
        log "chromium present (docs page browser tests)"
    elif [[ "$(id -u)" != 0 ]]; then
        log "chromium missing and not root: the docs page browser tests will be skipped" \
            "(install it: sudo apt-get install chromium)"
    elif ! command -v apt-get >/dev/null 2>&1; then
        log "chromium missing and no apt-get: the docs page browser tests will be skipped" \
            "(or set TAURO_CHROMIUM=/path/to/chromium)"
    else
        log "installing Debian's chromium for the docs page browser tests (apt-get)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
            >"${STAMPS:-/tmp}/apt-chromium.log" 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
                >"${STAMPS:-/tmp}/apt-chromium.log" 2>&1 ||
                log "apt-get could not install chromium (see .stamps/apt-chromium.log):" \
                    "the docs page browser tests will be skipped"
        fi
    fi
fi

log "ready (.venv, tauro-compile, jars in ${JARS_ROOT#"$ROOT/"})"
