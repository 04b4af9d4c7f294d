#!/usr/bin/env bash
# Set up (scripts/setup.sh), start the daemon on the embedded tiny model, generate a synced clip
# through the `ltx2` command line, and write it as out/demo.mp4 (H.264 + AAC) and out/demo.wav.
#   ./scripts/demo.sh ["prompt"]        extra daemon flags via LTX2D_* variables (e.g. LTX2D_MODEL)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
PROMPT=${1:-"a wooden door slams shut in an empty stone hall, echo"}
mkdir -p out
ready=$(mktemp -u)
ltx2d --grpc-port 0 --bridge-port 0 --preload --ready-file "$ready" --log-level warning &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; rm -f "$ready"' EXIT
for _ in $(seq 1 600); do
    [ -s "$ready" ] && break
    kill -0 "$daemon" 2>/dev/null || { echo "the daemon exited during start-up" >&2; exit 1; }
    sleep 0.2
done
[ -s "$ready" ] || { echo "the daemon did not start within 120 s" >&2; exit 1; }
port=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["grpc_port"])' "$ready")
export LTX2D_ADDRESS="127.0.0.1:$port"
ltx2 info
ltx2 generate "$PROMPT" -o out/demo.mp4 --wav out/demo.wav \
    --width 256 --height 256 --frames 121 --fps 24 --steps 8 --seed 42
python - <<'PY'
import av
with av.open("out/demo.mp4") as f:
    v, a = f.streams.video[0], f.streams.audio[0]
    print(f"out/demo.mp4: {v.codec_context.name} {v.width}x{v.height} {v.frames} frames @ {float(v.average_rate):g} fps, "
          f"{a.codec_context.name} {a.sample_rate} Hz {a.channels} ch, {float(f.duration / 1e6):.2f} s")
PY
