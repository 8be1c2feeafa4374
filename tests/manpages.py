#!/usr/bin/env python3
"""The manual pages (docs/man) against the programs they describe, so that
they cannot drift apart: virtbusd(8) lists exactly virtbusd --help's
options; virtbus(1) every command and every option of the command table
(virtbus --json help), and nothing else; virtbusd.conf(5) and
virtbus.conf(5) exactly the keys of the example files (which the unit
tests hold against the parsers).  groff must format each page without a
warning.  Usage: manpages.py SOURCE_DIR BIN_DIR"""
import json
import re
import subprocess
import sys

src, bindir = sys.argv[1], sys.argv[2]
man = src + "/docs/man/"
failures = []


def check(what, want, got):
    want, got = set(want), set(got)
    if want - got:
        failures.append("%s: missing %s" % (what, sorted(want - got)))
    if got - want:
        failures.append("%s: not in the program %s" % (what, sorted(got - want)))
    if not want:
        failures.append("%s: found nothing to compare" % what)


def page(name):
    with open(man + name) as f:
        return f.read()


def fl_words(line):
    """The options an mdoc line names: ".It Fl c , -config Ar file" and
    ".It Fl c , Fl -config" give -c and --config."""
    words, flags = [], False
    for tok in line.split()[1:]:
        if tok == "Fl":
            flags = True
        elif re.fullmatch(r"[A-Z][a-z]{1,2}", tok):
            flags = False
        elif flags and tok not in (",", "|"):
            words.append("-" + tok)
    return words


# virtbusd(8): the options under DESCRIPTION's list, against --help.
helptext = subprocess.run([bindir + "/agent/virtbusd", "--help"], capture_output=True,
                          text=True, check=True).stdout
help_opts = re.findall(r"^\s+(-\w), (--[\w-]+)", helptext, re.M)
text = page("virtbusd.8")
desc = text.split(".Sh DESCRIPTION")[1].split(".Sh ")[0]
items = [l for l in desc.splitlines() if l.startswith(".It Fl")]
check("virtbusd.8 options", [o for pair in help_opts for o in pair],
      [o for l in items for o in fl_words(l)])

# virtbus(1): commands and options, against the command table.
table = json.loads(subprocess.run([bindir + "/controller/virtbus", "--json", "help"],
                                  capture_output=True, text=True, check=True).stdout)
text = page("virtbus.1")
commands = text.split(".Sh COMMANDS")[1].split(".Sh ")[0]
check("virtbus.1 commands", [c["name"] for c in table["commands"]],
      re.findall(r"^\.It Cm (\S+)", commands, re.M))
options = set()
for c in table["commands"]:
    for o in c.get("options", []):
        options.add(o["name"])
        if "short" in o:
            options.add(o["short"])
named = set()
for line in text.splitlines():
    if line.startswith(".It Fl"):
        named.update(fl_words(line))
check("virtbus.1 options", options, named)

# The configuration files: the keys of the example files.
for conf, page_name in (("virtbusd.conf.in", "virtbusd.conf.5"), ("virtbus.conf", "virtbus.conf.5")):
    with open(src + "/packaging/" + conf) as f:
        keys = re.findall(r"^#([a-z_]+) = ", f.read(), re.M)
    check(page_name + " keys", keys,
          re.findall(r"^\.It Cm ([a-z_]+) No = ", page(page_name), re.M))

# Every page formats cleanly.
for name in ("virtbusd.8", "virtbus.1", "virtbusd.conf.5", "virtbus.conf.5", "virtbus-where.7"):
    out = subprocess.run(["groff", "-mandoc", "-ww", "-z", man + name],
                         capture_output=True, text=True)
    warnings = [l for l in out.stderr.splitlines() if "cannot adjust line" not in l]
    if out.returncode != 0 or warnings:
        failures.append("%s: groff: %s" % (name, "; ".join(warnings)))

for f in failures:
    print("FAIL:", f, file=sys.stderr)
print("ok: the manual pages match the programs" if not failures else "")
sys.exit(1 if failures else 0)
