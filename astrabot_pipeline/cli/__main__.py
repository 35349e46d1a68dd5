"""`python -m astrabot_pipeline.cli …`: the `astrabot` command, as the decoder image and
benchmarks/bench_decode.py run it."""

from astrabot_pipeline.cli import main

if __name__ == "__main__":  # importing this module (a package walk) runs nothing
    raise SystemExit(main())
