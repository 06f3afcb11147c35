#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs-converge contributors
# Apache License 2.0 (see the repository's Cargo.toml; SPDX: Apache-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lvs_converge
short_description: Converge a host into an LVS-TUN director or real server with lvs-converge
version_added: "0.1.0"
description:
  - Runs the C(lvs-converge) binary on the managed host to make its IPVS table, tunnels,
    addresses, routes, sysctls and persistence files what a spec says.
  - The module first plans (C(lvs-converge plan --format json --out FILE)), then applies exactly
    that saved plan (C(lvs-converge apply FILE --format json)), so what was checked is what is made.
  - In check mode, and with I(state=planned), it only plans; the host is never changed.
    C(changed) is then true when the plan has changes (exit code 2 of C(plan)).
  - With C(--diff), the before and after of every planned change are returned as a readable diff,
    and so is the spec file's when I(spec) and I(spec_content) are both given.
  - A plan that deletes an IPVS service is refused unless I(allow_delete=true), like
    Terraform's check for destroys; nothing is changed then.
  - A failed apply reports C(rolled_back=true) (exit code 3 of C(apply), the host is as it was
    except what C(stays) names, such as a loaded kernel module) or
    C(partial=true) with the changes that stay (exit code 4).
author:
  - lvs-converge contributors (!UNKNOWN)
requirements:
  - the C(lvs-converge) binary on the managed host (the C(.deb), the static binary, or I(binary))
  - root on the managed host for I(state=present) (IPVS and netlink changes); planning reads the host
    and needs root too
options:
  spec:
    description:
      - Path of the spec file on the managed host.
      - With I(spec_content) as well and I(state=present), the module keeps the file at this path
        equal to I(spec_content) (an atomic write, mode C(0644), only when it differs, never in
        check mode) and plans from it; in check mode and with I(state=planned) the file is left
        as it is and a private copy is planned as if it were at this path; the file's change is part of the diff and of C(changed). If the plan
        is refused or fails, the previous file is put back.
      - One of I(spec), I(spec_content) or (with I(state=present)) I(plan_file) is required.
    type: path
  spec_content:
    description:
      - The spec itself, as YAML text or as a dictionary (written as YAML).
      - Without I(spec), it is written to a private temporary file for this run only. A spec with
        a C(persist) section is then refused, because the persisted files (the boot unit's
        C(specPath)) would name that temporary path; give I(spec) too so the spec is kept on the host.
    type: raw
  node:
    description:
      - The Cluster node this host is (C(--node)); without it a Cluster spec's node is found by
        the host's addresses. Ignored by Host specs.
    type: str
  netns:
    description:
      - Network namespace to act in (C(--netns)), like C(ip netns exec NAME).
    type: str
  root:
    description:
      - Read and write persistence files below this directory instead of C(/) (C(--root)), for
        image building and tests.
    type: path
  state:
    description:
      - C(present) plans, refuses service deletions unless I(allow_delete), and applies the plan.
      - C(planned) only plans (and saves the plan to I(plan_file) when given); the host is not
        changed, C(changed) says whether it would be.
    type: str
    choices: [present, planned]
    default: present
  plan_file:
    description:
      - With I(state=planned), where to save the plan (C(plan --out)), for a later
        C(lvs-converge apply PLAN_FILE) or I(state=present). Check mode never writes it.
      - With I(state=present), a saved plan to apply exactly as it is (no spec needed); it is
        refused by the binary if the host changed since it was made. With I(spec) as well, the
        spec the plan was made from is written to I(spec) once apply changed the host (exit 0 or
        4), so the kept spec follows what was applied (I(spec_content) is refused). I(allow_delete) is still
        checked against its changes. In check mode its changes are reported, not re-checked
        against the host.
    type: path
  allow_delete:
    description:
      - Allow a plan that deletes IPVS services. Off by default, so a spec that lost a service
        by mistake fails with the services named instead of dropping live traffic.
      - Real servers leaving a service are drained gracefully and are not affected by this option.
    type: bool
    default: false
  take_over:
    description:
      - Let C(apply) overwrite persistence files that lvs-converge did not write (C(apply --take-over)),
        for a host coming from a hand-made setup with its own C(/etc/sysctl.d) or
        C(/etc/modules-load.d) files. Without it such an apply fails (exit 1) and changes nothing.
    type: bool
    default: false
  binary:
    description:
      - The C(lvs-converge) executable, a name looked up on the managed host's C(PATH) or a path.
    type: str
    default: lvs-converge
notes:
  - Supports check mode and diff mode.
  - The task's C(environment) reaches the binary (for example C(NO_COLOR), or C(LVS_CONVERGE_FAULT)
    for a build with fault injection, as the project's lab does).
  - Exit codes of the binary are documented in the project README ("Exit codes").
"""

EXAMPLES = r"""
- name: Converge this director from a spec kept on the host
  lvs_converge.lvs.lvs_converge:
    spec: /etc/lvs-converge/director.yaml
    spec_content:
      apiVersion: lvs-converge/v1
      kind: Host
      role: director
      vipInterface: eth0
      ipvs:
        services:
          - protocol: tcp
            address: 203.0.113.100
            port: 80
            scheduler: rr
            realServers:
              - address: 203.0.113.11

- name: Plan only, save the plan for review (never changes the host)
  lvs_converge.lvs.lvs_converge:
    spec: /etc/lvs-converge/director.yaml
    state: planned
    plan_file: /root/director.plan.json
  register: planned

- name: Apply the reviewed plan exactly, or nothing if the host changed since
  lvs_converge.lvs.lvs_converge:
    plan_file: /root/director.plan.json
  when: planned.changed

- name: A spec change that removes a service must say so
  lvs_converge.lvs.lvs_converge:
    spec: /etc/lvs-converge/director.yaml
    allow_delete: true

- name: A Cluster spec, this host being node lb1, with a binary outside PATH
  lvs_converge.lvs.lvs_converge:
    spec: /etc/lvs-converge/cluster.yaml
    node: lb1
    binary: /opt/lvs-converge/bin/lvs-converge
"""

RETURN = r"""
rc:
  description:
    - Exit code of the C(lvs-converge) command that failed. Only on failure, because Ansible takes
      a result with a non-zero C(rc) for a failure and C(plan) exits 2 when changes are pending.
    - Not set when the module itself refused (a deletion without I(allow_delete)); see C(plan_rc).
  returned: on failure, when a command of the binary failed
  type: int
  sample: 3
plan_rc:
  description: Exit code of C(lvs-converge plan) (0 converged, 2 changes pending, 1 error).
  returned: when plan ran
  type: int
  sample: 2
apply_rc:
  description: Exit code of C(lvs-converge apply) (0 success, 1 nothing changed, 3 rolled back, 4 partial).
  returned: when apply ran
  type: int
  sample: 0
cmd:
  description: The command lines run, in order.
  returned: always
  type: list
  elements: list
  sample: [["/usr/bin/lvs-converge", "plan", "-f", "/etc/lvs-converge/director.yaml", "--format", "json", "--out", "/tmp/x/plan.json"]]
plan:
  description:
    - The plan as C(lvs-converge plan --format json) prints it (C(format_version), C(changes),
      C(summary), C(drift), C(resource_changes), C(findings) ...), parsed.
    - With I(plan_file) and I(state=present), the saved plan file's own content instead.
  returned: when a plan was made or read
  type: dict
  sample: {"format_version": "1.7", "changes": true, "summary": {"create": 4, "update": 0, "delete": 0}}
report:
  description:
    - What C(lvs-converge apply --format json) printed, parsed. On success the plan carried out with
      C(applied), C(verified) and C(netlink_writes); on failure the failure report with C(outcome),
      C(message), C(failed), C(unknown), C(stays) and C(rollback_failures).
  returned: when apply ran and printed JSON
  type: dict
  sample: {"applied": true, "verified": true, "netlink_writes": 3}
deletions:
  description: The IPVS services the plan deletes, as the binary names them.
  returned: when a plan was made or read
  type: list
  elements: str
  sample: ["tcp 203.0.113.100:8080"]
spec_changed:
  description:
    - Whether the file at I(spec) differed from I(spec_content) (and was, with I(state=present)
      outside check mode, rewritten); with I(plan_file) and I(state=present), whether the saved
      plan's spec was written to I(spec).
  returned: always
  type: bool
  sample: false
rolled_back:
  description: True when a change failed and everything that had taken effect was undone (apply exit code 3).
  returned: always
  type: bool
  sample: false
partial:
  description: True when a change failed and what had taken effect stays (apply exit code 4); see I(stays).
  returned: always
  type: bool
  sample: false
stays:
  description: The changes that took effect and were not undone, shaped like C(resource_changes).
  returned: when apply failed with a failure report
  type: list
  elements: dict
  sample: []
msg:
  description: What happened, in one sentence; on failure with a C(hint) of what to do.
  returned: always
  type: str
  sample: "applied 4 change(s) and verified the host"
stdout:
  description: Standard output of the binary.
  returned: on failure
  type: str
stderr:
  description: Standard error of the binary (its error text and hint).
  returned: on failure
  type: str
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

try:
    import yaml

    HAS_YAML = True
except ImportError:  # ansible-core depends on PyYAML; this is for odd installs only
    HAS_YAML = False

# Exit codes of the binary (README, "Exit codes").
PLAN_CONVERGED = 0
PLAN_CHANGES = 2
APPLY_OK = 0
APPLY_ROLLED_BACK = 3
APPLY_PARTIAL = 4
# A change failed: the result's flag and the message of each outcome.
FAILED_APPLY = {
    APPLY_ROLLED_BACK: (
        'rolled_back',
        "lvs-converge apply failed and rolled back (exit 3): %s\n"
        "hint: the host is as it was except what stays names (a loaded kernel module cannot be unloaded); "
        "see report.failed for the change the kernel refused",
    ),
    APPLY_PARTIAL: (
        'partial',
        "lvs-converge apply failed and what took effect stays (exit 4): %s\n"
        "hint: see stays and report.unknown, fix the cause, then run again to converge",
    ),
}


class Run(object):
    """The state of one module run: the commands made and what they printed."""

    def __init__(self, module, binary):
        self.module = module
        self.binary = binary
        self.cmds = []
        self.result = dict(changed=False, spec_changed=False, rolled_back=False, partial=False, cmd=self.cmds)
        # (path, previous bytes or None) of a spec file this run rewrote: put back if the run
        # ends before the host was changed, so the file never asks for what was refused.
        self.rewritten = None
        # (path, bytes): the saved plan's spec, written to spec once its apply changed the host.
        self.applied_spec = None
        # Exit code of the last command run, reported as `rc` when the run fails because of it.
        self.last_rc = None

    def call(self, args):
        argv = [self.binary] + args
        self.cmds.append(argv)
        rc, out, err = self.module.run_command(argv, check_rc=False)
        # Not `rc`: Ansible takes any result with a non-zero `rc` for a failure, and plan's
        # exit code 2 (changes pending) is a success.
        self.result['%s_rc' % args[0]] = rc
        self.last_rc = rc
        return rc, out, err

    def fail(self, msg, out=None, err=None, restore=True, command_failed=True):
        if restore:
            self.restore_spec()
        if command_failed and self.last_rc is not None:
            self.result['rc'] = self.last_rc
        if out is not None:
            self.result['stdout'] = out
        if err is not None:
            self.result['stderr'] = err
        self.module.fail_json(msg=msg, **self.result)

    def parse_json(self, what, out, err):
        try:
            return json.loads(out)
        except ValueError as e:
            self.fail(
                "%s printed no JSON (%s); is %s an lvs-converge binary?\n"
                "hint: run the command shown in 'cmd' on the host to see its output"
                % (what, to_native(e), self.binary),
                out,
                err,
            )

    def restore_spec(self):
        if self.rewritten is None:
            return
        path, previous = self.rewritten
        self.rewritten = None
        if previous is None:
            os.unlink(path)
        else:
            write_atomic(self.module, path, previous)
        self.result['spec_changed'] = False


def write_atomic(module, path, data):
    """Writes data to path via a temporary file in the same directory, renamed over it, 0644."""
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path)
        # atomic_move gives the new file the old one's mode; the spec is not secret (0644).
        os.chmod(path, 0o644)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def spec_text(module, content):
    """spec_content as bytes: a dict is dumped as YAML, text is kept as it was written."""
    if isinstance(content, dict):
        if not HAS_YAML:
            module.fail_json(
                msg="spec_content is a dictionary but PyYAML is not importable on the managed host\n"
                "hint: give spec_content as YAML text (spec_content: \"{{ my_spec | to_nice_yaml }}\")"
            )
        return to_bytes(yaml.safe_dump(content, default_flow_style=False, sort_keys=False))
    return to_bytes(content)


def has_persist(data):
    """Whether a parsed spec has a `persist` section anywhere (a Host spec, or a Cluster node)."""
    if isinstance(data, dict):
        return 'persist' in data or any(has_persist(v) for v in data.values())
    if isinstance(data, list):
        return any(has_persist(v) for v in data)
    return False


def service_deletions(plan):
    """The IPVS services a `plan --format json` document deletes."""
    return [
        c.get('id')
        for c in plan.get('resource_changes', [])
        if c.get('subsystem') == 'ipvs' and c.get('kind') == 'ipvs service' and c.get('action') == 'delete'
    ]


def saved_plan_changes(saved):
    """The changes of a saved plan file (`plan --out`): its `plan.changes`, tagged by subsystem
    and change kind (`{"subsystem": "ipvs", "change": "deleteService", ...}`)."""
    plan = saved.get('plan') if isinstance(saved, dict) else None
    changes = plan.get('changes') if isinstance(plan, dict) else None
    return changes if isinstance(changes, list) else []


def saved_plan_deletions(saved):
    """The IPVS services a saved plan file deletes, named from their service key."""
    return [
        service_name(c.get('service'))
        for c in saved_plan_changes(saved)
        if c.get('subsystem') == 'ipvs' and c.get('change') == 'deleteService' and not is_health_service(c.get('service'))
    ]


# Marks of the hidden health-check path services (src/model/health.rs): `plan` does not count
# them as IPVS services (they go with their health check), so neither does a saved plan.
HEALTH_MARKS = (0x4C560000, 0x4C56FFFF)


def is_health_service(key):
    mark = key.get('fwmark') if isinstance(key, dict) else None
    return isinstance(mark, int) and HEALTH_MARKS[0] <= mark <= HEALTH_MARKS[1]


def service_name(key):
    """A saved plan's service key as `plan` names it: `tcp 203.0.113.100:80`, `udp [2001:db8::1]:53`,
    `fwmark 7 (ipv4)`; anything else as its JSON."""
    if not isinstance(key, dict):
        return json.dumps(key)
    if 'fwmark' in key:
        return 'fwmark %s (%s)' % (key['fwmark'], key.get('family', '?'))
    if {'protocol', 'address', 'port'} <= set(key):
        address = key['address']
        if ':' in str(address):
            address = '[%s]' % address
        return '%s %s:%s' % (key['protocol'], address, key['port'])
    return json.dumps(key, sort_keys=True)


def plan_diff(plan):
    """before/after of every planned change, as two YAML documents keyed `ACTION KIND ID`."""
    before, after = {}, {}
    for c in plan.get('resource_changes', []):
        key = '%s %s %s' % (c.get('action'), c.get('kind'), c.get('id'))
        if c.get('before') is not None:
            before[key] = c['before']
        if c.get('after') is not None:
            after[key] = c['after']
        if c.get('diff'):
            # A file's own unified diff says more than its before/after settings.
            after[key] = {'diff': c['diff']}

    def dump(d):
        if not d:
            return ''
        if HAS_YAML:
            return yaml.safe_dump(d, default_flow_style=False, sort_keys=False, width=1000)
        return json.dumps(d, indent=2) + '\n'

    return dict(before_header='host (planned)', after_header='spec', before=dump(before), after=dump(after))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type='path'),
            spec_content=dict(type='raw'),
            node=dict(type='str'),
            netns=dict(type='str'),
            root=dict(type='path'),
            state=dict(type='str', default='present', choices=['present', 'planned']),
            plan_file=dict(type='path'),
            allow_delete=dict(type='bool', default=False),
            binary=dict(type='str', default='lvs-converge'),
            take_over=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    run = Run(module, None)
    run.binary = resolve_binary(module, run, p['binary'])

    if p['state'] == 'present' and p['plan_file']:
        if p['spec_content'] is not None:
            module.fail_json(
                msg="plan_file with state=present applies that saved plan, so spec_content cannot be given too\n"
                "hint: to save a plan from a spec, use state=planned with plan_file; then apply it with plan_file "
                "(and spec, where the applied spec is kept)",
                **run.result
            )
        apply_saved_plan(module, run)
        return
    if p['spec'] is None and p['spec_content'] is None:
        module.fail_json(
            msg="no spec: give spec (a path on the host), spec_content (the spec itself), or both\n"
            "hint: with state=present, plan_file alone applies a saved plan",
            **run.result
        )

    workdir = tempfile.mkdtemp(prefix='lvs_converge.')
    try:
        spec_path, diffs = prepare_spec(module, run, workdir)
        converge(module, run, workdir, spec_path, diffs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def resolve_binary(module, run, binary):
    if '/' in binary:
        if not os.access(binary, os.X_OK):
            module.fail_json(
                msg="binary %s is not an executable file on this host\n"
                "hint: install lvs-converge (the .deb or the static binary) or point binary at it" % binary,
                **run.result
            )
        return binary
    found = module.get_bin_path(binary)
    if found is None:
        module.fail_json(
            msg="%s was not found on the PATH of this host (%s)\n"
            "hint: install lvs-converge (the .deb puts it in /usr/bin), or set binary to its path"
            % (binary, os.environ.get('PATH', '')),
            **run.result
        )
    return found


def prepare_spec(module, run, workdir):
    """The spec file to plan from, and the diffs the spec itself contributes."""
    p = module.params
    diffs = []
    if p['spec_content'] is None:
        if not os.path.isfile(p['spec']):
            run.fail(
                "spec file %s does not exist on this host\n"
                "hint: copy it there first, or give its content as spec_content" % p['spec'],
                restore=False,
            )
        return p['spec'], diffs

    content = spec_text(module, p['spec_content'])
    if p['spec'] is None:
        if HAS_YAML and spec_has_persist(content):
            run.fail(
                "spec_content has a persist section, but without spec it is only written to a temporary file, "
                "which the persisted files (the boot unit's specPath) would name\n"
                "hint: set spec to the path where the spec is kept on the host (e.g. /etc/lvs-converge/spec.yaml)",
                restore=False,
            )
        return write_private(workdir, content), diffs

    previous = None
    if os.path.exists(p['spec']):
        with open(p['spec'], 'rb') as f:
            previous = f.read()
    if previous == content:
        return p['spec'], diffs
    run.result['spec_changed'] = True
    diffs.append(
        dict(
            before_header=p['spec'] if previous is not None else '%s (absent)' % p['spec'],
            after_header=p['spec'],
            before=to_native(previous or b''),
            after=to_native(content),
        )
    )
    if module.check_mode or p['state'] == 'planned':
        # Planning only: the host, the spec file included, is never changed. A private copy is
        # planned as if it were at spec (plan --spec-path), so the boot unit and a saved plan
        # name spec, not the private copy.
        return write_private(workdir, content), diffs
    if not os.path.isdir(os.path.dirname(p['spec']) or '.'):
        run.fail(
            "the directory of spec %s does not exist on this host\n"
            "hint: create it first (ansible.builtin.file state=directory), as the converge role does" % p['spec'],
            restore=False,
        )
    write_atomic(module, p['spec'], content)
    run.rewritten = (p['spec'], previous)
    return p['spec'], diffs


def spec_has_persist(content):
    try:
        return has_persist(yaml.safe_load(content))
    except yaml.YAMLError:
        return False  # not YAML: the binary says where, with its own error


def write_private(workdir, content):
    path = os.path.join(workdir, 'spec.yaml')
    with open(path, 'wb') as f:
        f.write(content)
    os.chmod(path, 0o600)
    return path


def context_args(p):
    args = []
    for option, flag in (('node', '--node'), ('netns', '--netns'), ('root', '--root')):
        if p[option]:
            args += [flag, p[option]]
    return args


def converge(module, run, workdir, spec_path, diffs):
    p = module.params
    only_plan = module.check_mode or p['state'] == 'planned'
    if module.check_mode:
        out_file = None  # check mode writes nothing on the host, plan_file neither
    elif only_plan:
        out_file = p['plan_file']
    else:
        out_file = os.path.join(workdir, 'plan.json')
    args = ['plan', '-f', spec_path, '--format', 'json'] + context_args(p)
    if p['spec'] is not None and spec_path != p['spec']:
        args += ['--spec-path', os.path.abspath(p['spec'])]
    if out_file:
        args += ['--out', out_file]
    rc, out, err = run.call(args)
    if rc not in (PLAN_CONVERGED, PLAN_CHANGES):
        run.fail("lvs-converge plan failed (exit %d): %s" % (rc, first_line(err)), out, err)
    plan = run.parse_json('lvs-converge plan', out, err)
    run.result['plan'] = plan
    deletions = service_deletions(plan)
    run.result['deletions'] = deletions
    diffs.append(plan_diff(plan))
    run.result['diff'] = diffs

    if only_plan:
        if p['state'] == 'present':
            refuse_deletions(run, deletions)  # check mode fails as the real run would
        run.result['changed'] = rc == PLAN_CHANGES or run.result['spec_changed']
        run.result['msg'] = planned_msg(plan, rc, p['plan_file'], module.check_mode)
        module.exit_json(**run.result)
    if rc == PLAN_CONVERGED:
        run.result['changed'] = run.result['spec_changed']
        run.result['msg'] = 'the host is converged: nothing to change'
        module.exit_json(**run.result)
    refuse_deletions(run, deletions)
    apply_plan(module, run, out_file)


def first_line(err):
    lines = [line for line in to_native(err).splitlines() if line.strip()]
    return lines[0] if lines else 'no error text (see stdout)'


def planned_msg(plan, rc, plan_file, check_mode):
    summary = plan.get('summary', {})
    msg = 'converged: nothing to change' if rc == PLAN_CONVERGED else 'changes pending: %d create, %d update, %d delete' % (
        summary.get('create', 0),
        summary.get('update', 0),
        summary.get('delete', 0),
    )
    if plan_file:
        msg += ('; plan would be saved to %s (not in check mode)' if check_mode else '; plan saved to %s') % plan_file
    return msg


def refuse_deletions(run, deletions):
    if deletions and not run.module.params['allow_delete']:
        run.fail(
            "the plan deletes IPVS service(s) %s; refused because allow_delete is false, nothing was changed\n"
            "hint: if removing them is intended, set allow_delete: true; otherwise put them back in the spec"
            % ', '.join(deletions),
            command_failed=False,
        )


def apply_saved_plan(module, run):
    path = module.params['plan_file']
    try:
        with open(path, 'rb') as f:
            saved = json.loads(f.read())
    except (IOError, OSError, ValueError) as e:
        run.fail(
            "cannot read saved plan %s: %s\n"
            "hint: make it with state=planned and plan_file (or lvs-converge plan -f SPEC --out FILE)"
            % (path, to_native(e))
        )
    if not isinstance(saved, dict):
        run.fail(
            "saved plan %s is JSON but not a plan (not an object)\n"
            "hint: plan_file takes a file written by state=planned with plan_file (lvs-converge plan --out FILE)"
            % path,
            command_failed=False,
        )
    run.result['plan'] = saved
    refuse_spec_elsewhere(run, path, saved)
    deletions = saved_plan_deletions(saved)
    run.result['deletions'] = deletions
    changes = saved_plan_changes(saved)
    if module.params['spec'] is not None and isinstance(saved.get('spec_text'), str):
        run.applied_spec = (module.params['spec'], to_bytes(saved['spec_text']))
    if module.check_mode:
        refuse_deletions(run, deletions)  # check mode fails as the real run would
        run.result['changed'] = bool(changes)
        run.result['msg'] = (
            'saved plan %s holds %d change(s); check mode does not check it against the host '
            '(apply refuses it if the host changed since)' % (path, len(changes))
        )
        module.exit_json(**run.result)
    refuse_deletions(run, deletions)
    apply_plan(module, run, path)


def refuse_spec_elsewhere(run, path, saved):
    """A saved plan's persisted files (the boot unit's specPath) name the path its spec was planned
    at; keeping the applied spec at another `spec` would leave that file stale and this one unread."""
    spec = run.module.params['spec']
    planned_at = saved.get('spec', {}).get('path') if isinstance(saved.get('spec'), dict) else None
    if spec is None or not isinstance(planned_at, str) or not os.path.isabs(planned_at):
        return
    if os.path.abspath(spec) != planned_at:
        run.fail(
            "saved plan %s was made from the spec at %s, but spec is %s: the host's persisted files "
            "(a boot unit's specPath) would name %s while the applied spec is kept at %s; nothing was changed\n"
            "hint: set spec to %s, or plan again with spec=%s"
            % (path, planned_at, spec, planned_at, spec, planned_at, spec),
            command_failed=False,
        )


def keep_applied_spec(run):
    """After a saved plan changed the host: the file at spec becomes the spec that plan was made
    from, so the spec kept on the host (and the boot unit's specPath) follows what was applied."""
    if run.applied_spec is None:
        return
    path, content = run.applied_spec
    previous = None
    if os.path.exists(path):
        with open(path, 'rb') as f:
            previous = f.read()
    if previous == content:
        return
    if not os.path.isdir(os.path.dirname(path) or '.'):
        run.module.warn('the directory of spec %s does not exist: the applied spec was not kept there' % path)
        return
    write_atomic(run.module, path, content)
    run.result['spec_changed'] = True


def apply_plan(module, run, plan_path):
    args = ['apply', plan_path, '--format', 'json']
    if module.params['take_over']:
        args.append('--take-over')
    rc, out, err = run.call(args)
    if rc in (APPLY_OK, APPLY_PARTIAL):
        # The host changed: the spec on disk says where it is going, keep it whatever is printed.
        run.rewritten = None
        run.result['changed'] = True
        keep_applied_spec(run)
    report = None
    if out.strip():
        report = run.parse_json('lvs-converge apply', out, err)
        run.result['report'] = report
    if rc == APPLY_OK:
        applied = (report or {}).get('applied', True)
        run.result['changed'] = bool(applied) or run.result['spec_changed']
        count = len((report or {}).get('resource_changes', []))
        run.result['msg'] = 'applied %d change(s) and verified the host' % count if applied else 'nothing to apply'
        module.exit_json(**run.result)
    message = (report or {}).get('message') or first_line(err)
    if rc in FAILED_APPLY:
        flag, text = FAILED_APPLY[rc]
        run.result[flag] = True
        run.result['stays'] = (report or {}).get('stays', [])
        stays = run.result['stays']
        if rc == APPLY_ROLLED_BACK:
            # Rolled back: only what cannot be undone (a loaded kernel module) stays.
            run.result['changed'] = bool(stays)
            if stays:
                message += '; what could not be undone stays: %s' % ', '.join(
                    str(c.get('id', c)) if isinstance(c, dict) else str(c) for c in stays
                )
        run.fail(text % message, out, err)
    run.fail("lvs-converge apply failed (exit %d), nothing was changed: %s" % (rc, message), out, err)


if __name__ == '__main__':
    main()
