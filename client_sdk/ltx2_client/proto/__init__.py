"""The wire contract (protos/ltx2d/v1/ltx2d.proto) as generated Python modules, public to the SDK and the daemon alike (scripts/gen_protos.py writes them; do not edit)."""
