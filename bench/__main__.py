"""`python -m bench`: generate, run JobForge and the baseline, write bench/RESULTS.md."""

from bench.run import main

if __name__ == "__main__":
    raise SystemExit(main())
