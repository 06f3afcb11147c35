#!/bin/sh
# Host-side tests of the Ansible collection (ansible/), about a minute, no VM:
#   1. the module's tests (tests/ansible/test_module.py): the module driven through `ansible`
#      and `ansible-playbook examples/ansible/site.yml` against a fake binary that replays JSON
#      from tests/ansible/fixtures/ (plan-*.json recorded from the real binary, apply-*.json
#      synthesized from plan-create.json; see record.sh there), and against
#      the real binary's `plan` offline (LVS_CONVERGE_BIN, default target/debug/lvs-converge:
#      build it first);
#   2. `ansible-doc` shows the module's documentation and the role's argument spec;
#   3. ansible-core's own sanity tests, where they run offline, on a copy laid out as
#      ansible_collections/lvs_converge/lvs:
#      - validate-modules (DOCUMENTATION/EXAMPLES/RETURN against the argument spec): the
#        script ansible-test ships, run by validate_modules.py with Debian's Python, because
#        `ansible-test sanity --test validate-modules` builds a virtualenv of its own and
#        pip-installs its requirements from PyPI, which this host and CI cannot reach;
#      - `ansible-test sanity` with compile and the code-smell tests, which need no
#        requirements and so no PyPI.
#      Not run, for the same reason (each needs its own pip-installed virtualenv): import,
#      ansible-doc (its sanity form; part 2 runs ansible-doc itself), runtime-metadata,
#      yamllint, pylint, pep8 (pycodestyle), mypy; shellcheck needs the shellcheck binary.
# Installs Debian's ansible-core when it is missing. Exits non-zero when any part fails.
#
#   tests/ansible/run.sh            (from anywhere; needs root only to install ansible-core)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

say() { printf '\n== %s\n' "$*"; }
run() { printf '+ %s\n' "$*"; "$@"; }

# ansible-core from Debian: what the lab's VM runs. `apt-get update` only when the install
# fails, since the package lists are usually there and updating takes a while.
if ! command -v ansible-doc >/dev/null || ! command -v ansible-test >/dev/null; then
    say "installing Debian's ansible-core"
    install="apt-get install -y --no-install-recommends ansible-core python3-voluptuous"
    run $install || { run apt-get update && run $install; }
fi
# ansible-test's validate-modules imports voluptuous; Debian ships it apart from ansible-core.
if ! /usr/bin/python3 -c 'import voluptuous' 2>/dev/null; then
    run apt-get install -y --no-install-recommends python3-voluptuous ||
        { run apt-get update && run apt-get install -y --no-install-recommends python3-voluptuous; }
fi
run ansible --version

# The collection as Ansible finds it without galaxy: DIR/ansible_collections/NAMESPACE/NAME.
# A copy, not a symlink: ansible-test refuses a collection reached through a symlink and
# writes its output into the tree.
work=$(mktemp -d /tmp/lvs-ansible.XXXXXX)
trap 'rm -rf "$work"' EXIT
collection=$work/ansible_collections/lvs_converge/lvs
mkdir -p "$(dirname "$collection")"
cp -r "$repo/ansible" "$collection"
export LVS_ANSIBLE_COLLECTIONS="$work"
export ANSIBLE_COLLECTIONS_PATH="$work"
# No user config or retry files from the machine running the tests.
: >"$work/ansible.cfg"
export ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_NOCOLOR=1

# The real binary's plan (offline, against snapshots) checks the flags the module passes.
export LVS_CONVERGE_BIN="${LVS_CONVERGE_BIN:-$repo/target/debug/lvs-converge}"
[ -x "$LVS_CONVERGE_BIN" ] || {
    echo "error: no lvs-converge binary at $LVS_CONVERGE_BIN for the module's tests" >&2
    echo "  hint: run \`cargo build --locked\` first, or set LVS_CONVERGE_BIN to a built binary" >&2
    exit 1
}

say "1. module tests through ansible, against the fake binary and the real one's plan"
run /usr/bin/python3 "$here/test_module.py" -v

say "2. ansible-doc shows the module and the role"
# The exact sets of names from ansible-doc's JSON: a grep over the page would find each word
# in the prose too, so a dropped option would still pass.
doc_names() { # ansible-doc ARGS... | doc_names PYTHON-EXPRESSION-OF-d
    /usr/bin/python3 -c 'import json, sys; d = list(json.load(sys.stdin).values())[0]; print(" ".join(sorted('"$1"')))'
}
expect_names() { # WHAT EXPECTED ACTUAL
    [ "$2" = "$3" ] || { printf 'ansible-doc: %s are
  %s
expected
  %s
' "$1" "$3" "$2" >&2; exit 1; }
    echo "ansible-doc: $1: $3"
}
echo "+ ansible-doc --json lvs_converge.lvs.lvs_converge"
module_json=$(ansible-doc --json lvs_converge.lvs.lvs_converge)
expect_names "module options" \
    "allow_delete binary netns node plan_file root spec spec_content state take_over" \
    "$(printf '%s' "$module_json" | doc_names 'd["doc"]["options"]')"
expect_names "module return values" \
    "apply_rc cmd deletions msg partial plan plan_rc rc report rolled_back spec_changed stays stderr stdout" \
    "$(printf '%s' "$module_json" | doc_names 'd["return"]')"
printf '%s' "$module_json" | /usr/bin/python3 -c 'import json, sys; d = list(json.load(sys.stdin).values())[0]; sys.exit(0 if "check mode" in " ".join(d["doc"]["notes"]).lower() else 1)' ||
    { echo "ansible-doc: the module's notes do not mention check mode" >&2; exit 1; }
echo "+ ansible-doc -t role --json lvs_converge.lvs.converge"
role_json=$(ansible-doc -t role --json lvs_converge.lvs.converge)
expect_names "role options" \
    "lvs_converge_allow_delete lvs_converge_binary lvs_converge_environment lvs_converge_netns lvs_converge_node lvs_converge_plan_file lvs_converge_root lvs_converge_spec lvs_converge_spec_file lvs_converge_spec_path lvs_converge_state lvs_converge_take_over" \
    "$(printf '%s' "$role_json" | doc_names 'd["entry_points"]["main"]["options"]')"

say "3. ansible-core's sanity tests that run offline"
version=$(sed -n 's/^version: *//p' "$repo/ansible/galaxy.yml")
crate=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
[ "$version" = "$crate" ] || { echo "ansible/galaxy.yml version $version is not the crate's $crate (Cargo.toml)" >&2; exit 1; }
run /usr/bin/python3 "$here/validate_modules.py" "$collection" "$version"
# ansible-test wants the collection to be the current directory.
cd "$collection"
python_version=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
set -- compile shebang no-assert metaclass-boilerplate future-import-boilerplate use-argspec-type-path \
    no-get-exception replace-urlopen use-compat-six no-basestring no-illegal-filenames no-main-display \
    empty-init line-endings no-smart-quotes symlinks action-plugin-docs no-unicode-literals \
    no-dict-iteritems no-dict-iterkeys no-dict-itervalues
tests=""
for t in "$@"; do tests="$tests --test $t"; done
# shellcheck disable=SC2086 # one word per --test
run ansible-test sanity --python "$python_version" $tests

say "all Ansible tests passed"
