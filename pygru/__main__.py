"""python -m pygru SUBCOMMAND - pygru's command line.

Subcommands:
  demo    train the seed's PyTorch-style sentiment GRU with pygru alone on a generated
          corpus (about a minute on 2 cores), compare it with bag-of-words, save the
          model and its curves (the demo application, pygru/demo/: see
          pygru/demo/main.py; `python -m pygru demo --help`).
  check   run the SymPy oracle against the built library on small seeded problems and
          print the error of every tensor; exit 0 if all pass, 1 on any mismatch, 2 if
          the library cannot be imported (see pygru/check.py).
"""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pygru",
                                     description="pygru: a GRU in C11 with a NumPy API.")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True
    p_check = sub.add_parser("check", help="compare the built library with the SymPy oracle",
                             description="Compare the built library with the SymPy oracle "
                                         "(float64 and float32, both GRU variants, GRUCell).")
    p_check.add_argument("--quick", action="store_true", help="run a smaller set of cases")
    p_check.add_argument("--verbose", "-v", action="store_true",
                         help="one row per tensor instead of one per case")
    sub.add_parser("demo", add_help=False,
                   help="train a sentiment GRU with pygru alone (about a minute)")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:   # the demo parses its own options
        from .demo import main as demo_main
        return demo_main.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "check":
        from . import check
        return check.main(quick=args.quick, verbose=args.verbose)
    parser.error(f"unknown subcommand {args.command!r}")   # not reached: argparse checks
    return 2


if __name__ == "__main__":
    sys.exit(main())
