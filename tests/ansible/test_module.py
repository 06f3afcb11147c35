"""Tests of the lvs_converge module, driven through ansible itself (ad-hoc `ansible` and
`ansible-playbook` on examples/ansible/site.yml) against a fake binary that replays JSON
from fixtures/ (plan-*.json recorded from the real binary, apply-*.json synthesized from
plan-create.json: see the header of fixtures/record.sh) and logs every call.

Run by tests/ansible/run.sh, which sets LVS_ANSIBLE_COLLECTIONS (a directory holding
ansible_collections/lvs_converge/lvs -> the repo's ansible/).
"""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, 'fixtures')
FAKE = os.path.join(HERE, 'fake_lvs_converge.py')
MODULE = 'lvs_converge.lvs.lvs_converge'
VIP_SERVICE = 'tcp 203.0.113.100:80'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class Scenario(object):
    """A fake lvs-converge in a temporary directory: what each subcommand prints and exits with."""

    def __init__(self, root):
        self.dir = os.path.join(root, 'fake')
        os.mkdir(self.dir)
        self.binary = os.path.join(self.dir, 'lvs-converge')
        with open(self.binary, 'w') as f:
            f.write('#!/bin/sh\nexec /usr/bin/python3 %s %s "$@"\n' % (FAKE, self.dir))
        os.chmod(self.binary, 0o755)

    def command(self, name, json_fixture=None, rc=0, stderr=None):
        if json_fixture is not None:
            with open(os.path.join(self.dir, name + '.json'), 'w') as f:
                f.write(fixture(json_fixture))
        with open(os.path.join(self.dir, name + '.rc'), 'w') as f:
            f.write(str(rc))
        if stderr is not None:
            with open(os.path.join(self.dir, name + '.stderr'), 'w') as f:
                f.write(stderr)

    def saved_plan(self, json_fixture):
        shutil.copyfile(os.path.join(FIXTURES, json_fixture), os.path.join(self.dir, 'saved-plan.json'))

    def calls(self):
        path = os.path.join(self.dir, 'calls.jsonl')
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def subcommands(self):
        return [call['argv'][0] for call in self.calls()]


def ansible_env():
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=os.environ['LVS_ANSIBLE_COLLECTIONS'],
        # Raw results go to $LVS_TEST_RESULTS (see callback_plugins/record_results.py).
        ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, 'callback_plugins'),
        ANSIBLE_CALLBACKS_ENABLED='record_results',
        ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_RETRY_FILES_ENABLED='0',
        ANSIBLE_LOCALHOST_WARNING='0',
        ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
    )
    return env


def results(path):
    """The task results tests/ansible/callback_plugins/record_results.py wrote, in order."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def recap(output):
    """The PLAY RECAP counters of localhost: {'ok': 2, 'changed': 1, 'failed': 0, ...}."""
    match = re.search(r'^localhost\s*:\s*(.*)$', output, re.M)
    if not match:
        raise ValueError('no PLAY RECAP line for localhost')
    return dict((key, int(value)) for key, value in re.findall(r'(\w+)=(\d+)', match.group(1)))


class AnsibleRunTest(unittest.TestCase):
    """A temporary directory with a fake lvs-converge in it, and the module run through ansible."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='lvs-ansible-test.')
        self.fake = Scenario(self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def run_module(self, check=False, diff=False, **args):
        """Runs the module once with `ansible localhost -m`, returns its result."""
        args.setdefault('binary', self.fake.binary)
        argv = ['ansible', 'localhost', '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=/usr/bin/python3']
        argv += ['-m', MODULE, '-a', json.dumps(args)]
        if check:
            argv.append('--check')
        if diff:
            argv.append('--diff')
        recorded = self.path('results.jsonl')
        if os.path.exists(recorded):
            os.unlink(recorded)
        env = dict(ansible_env(), LVS_TEST_RESULTS=recorded)
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        found = results(recorded)
        if len(found) != 1:
            self.fail('%d results from %s\nstdout: %s\nstderr: %s' % (len(found), argv, proc.stdout, proc.stderr))
        return found[0]


class ModuleTest(AnsibleRunTest):
    def spec_file(self, text='kind: Host\n'):
        path = self.path('spec.yaml')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def write_fake(self, name, text):
        with open(os.path.join(self.fake.dir, name), 'w') as f:
            f.write(text)

    def read(self, path):
        with open(path) as f:
            return f.read()

    # --- check mode and state=planned -------------------------------------------------

    def test_check_mode_plans_reports_changed_and_never_applies(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        spec = self.spec_file()
        result = self.run_module(check=True, diff=True, spec=spec)
        self.assertTrue(result['changed'], result)
        self.assertEqual(result['_status'], 'ok', result)
        self.assertEqual([c['argv'] for c in self.fake.calls()], [['plan', '-f', spec, '--format', 'json']])
        self.assertEqual(result['plan_rc'], 2)
        self.assertNotIn('rc', result, 'a non-zero rc would make Ansible call the task failed')
        self.assertEqual(result['plan']['summary'], json.loads(fixture('plan-create.json'))['summary'])
        plan_diff = result['diff'][-1]
        self.assertIn('create ipvs service %s' % VIP_SERVICE, plan_diff['after'])
        self.assertNotIn('create ipvs service', plan_diff['before'])

    def test_check_mode_of_a_converged_host_is_not_changed(self):
        self.fake.command('plan', 'plan-converged.json', rc=0)
        result = self.run_module(check=True, spec=self.spec_file())
        self.assertFalse(result['changed'], result)
        self.assertEqual(self.fake.subcommands(), ['plan'])

    def test_planned_saves_the_plan_and_never_applies(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.saved_plan('saved-plan-create.json')
        out = self.path('reviewed.plan.json')
        result = self.run_module(spec=self.spec_file(), state='planned', plan_file=out, node='lb1', netns='blue')
        self.assertTrue(result['changed'], result)
        (call,) = self.fake.calls()
        self.assertEqual(call['argv'], ['plan', '-f', self.path('spec.yaml'), '--format', 'json', '--node', 'lb1', '--netns', 'blue', '--out', out])
        self.assertTrue(os.path.exists(out))

    # --- state=present ---------------------------------------------------------------

    def test_present_applies_exactly_the_plan_it_checked(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        result = self.run_module(spec=self.spec_file())
        self.assertTrue(result['changed'], result)
        self.assertFalse(result['rolled_back'])
        plan_call, apply_call = [c['argv'] for c in self.fake.calls()]
        self.assertEqual(plan_call[:5], ['plan', '-f', self.path('spec.yaml'), '--format', 'json'])
        saved = plan_call[plan_call.index('--out') + 1]
        self.assertEqual(apply_call, ['apply', saved, '--format', 'json'])
        self.assertTrue(result['report']['verified'])

    def test_a_converged_host_is_not_changed_and_not_applied(self):
        self.fake.command('plan', 'plan-converged.json', rc=0)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        result = self.run_module(spec=self.spec_file())
        self.assertFalse(result['changed'], result)
        self.assertEqual(self.fake.subcommands(), ['plan'])

    def test_an_apply_that_applied_nothing_is_not_changed(self):
        # Plan exit 2 with nothing to make: real servers still draining.
        self.fake.command('plan', 'plan-create.json', rc=2)
        report = json.loads(fixture('apply-ok.json'))
        report.update(applied=False, resource_changes=[])
        with open(os.path.join(self.fake.dir, 'apply.json'), 'w') as f:
            json.dump(report, f)
        result = self.run_module(spec=self.spec_file())
        self.assertFalse(result['changed'], result)
        self.assertEqual(self.fake.subcommands(), ['plan', 'apply'])

    def test_a_plan_deleting_a_service_is_refused_before_apply(self):
        self.fake.command('plan', 'plan-delete.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        result = self.run_module(spec=self.spec_file())
        self.assertEqual(result['_status'], 'failed', result)
        self.assertFalse(result['changed'])
        self.assertIn('tcp 203.0.113.100:8080', result['msg'])
        self.assertIn('allow_delete', result['msg'])
        self.assertEqual(self.fake.subcommands(), ['plan'])

    def test_allow_delete_lets_the_deleting_plan_through(self):
        self.fake.command('plan', 'plan-delete.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        result = self.run_module(spec=self.spec_file(), allow_delete=True)
        self.assertTrue(result['changed'], result)
        self.assertIn('tcp 203.0.113.100:8080', result['deletions'])
        self.assertEqual(self.fake.subcommands(), ['plan', 'apply'])

    def test_exit_3_is_a_failure_that_rolled_back(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', 'apply-rolled-back.json', rc=3, stderr='error: change 3 of 4 failed\n')
        result = self.run_module(spec=self.spec_file())
        self.assertEqual(result['_status'], 'failed', result)
        self.assertTrue(result['rolled_back'])
        self.assertFalse(result['partial'])
        # The fixture's rollback could not unload ip_vs and ip_vs_rr: they stay, so changed.
        self.assertTrue(result['changed'])
        self.assertIn('ip_vs_rr', result['msg'])
        self.assertEqual(result['report']['outcome'], 'rolled_back')
        self.assertEqual((result['rc'], result['apply_rc']), (3, 3))
        self.assertIn('rolled back', result['msg'])

    def test_exit_3_with_nothing_staying_is_not_changed(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        report = json.loads(fixture('apply-rolled-back.json'))
        report['stays'] = []
        self.write_fake('apply.json', json.dumps(report))
        self.fake.command('apply', rc=3)
        result = self.run_module(spec=self.spec_file())
        self.assertEqual(result['_status'], 'failed', result)
        self.assertTrue(result['rolled_back'])
        self.assertFalse(result['changed'])
        self.assertNotIn('stays:', result['msg'])

    def test_exit_4_is_a_partial_failure_whose_changes_stay(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', 'apply-partial.json', rc=4)
        result = self.run_module(spec=self.spec_file())
        self.assertEqual(result['_status'], 'failed', result)
        self.assertTrue(result['partial'])
        self.assertFalse(result['rolled_back'])
        expected = json.loads(fixture('apply-partial.json'))['stays']
        self.assertTrue(expected)
        self.assertEqual(result['stays'], expected)

    def test_exit_1_fails_with_the_tools_error(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', rc=1, stderr='error: saved plan /tmp/x is stale: the host changed\n  hint: plan again\n')
        result = self.run_module(spec=self.spec_file())
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('is stale', result['msg'])
        self.assertIn('hint: plan again', result['stderr'])

    def test_a_plan_error_fails_with_its_text_and_applies_nothing(self):
        self.fake.command('plan', rc=1, stderr='error: spec.yaml:3:1: unknown field `ipvss`\n')
        result = self.run_module(spec=self.spec_file())
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('unknown field', result['msg'])
        self.assertEqual(self.fake.subcommands(), ['plan'])

    def test_a_missing_binary_fails_with_a_hint(self):
        result = self.run_module(spec=self.spec_file(), binary='lvs-converge-not-installed')
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('hint:', result['msg'])

    # --- spec and spec_content -------------------------------------------------------

    def test_spec_content_is_written_only_when_different(self):
        self.fake.command('plan', 'plan-converged.json', rc=0)
        spec = self.path('kept/director.yaml')
        os.mkdir(self.path('kept'))
        content = {'apiVersion': 'lvs-converge/v1', 'kind': 'Host', 'role': 'director', 'vipInterface': 'eth0'}
        first = self.run_module(spec=spec, spec_content=content)
        self.assertTrue(first['changed'], first)
        self.assertTrue(first['spec_changed'])
        with open(spec) as f:
            written = f.read()
        self.assertIn('vipInterface: eth0', written)
        self.assertEqual(stat.S_IMODE(os.stat(spec).st_mode), 0o644)
        self.assertEqual(self.fake.calls()[0]['argv'][2], spec)
        inode = os.stat(spec).st_ino
        second = self.run_module(spec=spec, spec_content=content)
        self.assertFalse(second['changed'], second)
        self.assertFalse(second['spec_changed'])
        self.assertEqual(os.stat(spec).st_ino, inode, 'an equal spec must not be rewritten')

    def test_check_mode_never_writes_the_spec_and_plans_a_temp_copy(self):
        self.fake.command('plan', 'plan-converged.json', rc=0)
        spec = self.spec_file('kind: Host\n# old\n')
        result = self.run_module(check=True, diff=True, spec=spec, spec_content='kind: Host\n# new\n')
        # The host is converged, but the spec file would change: changed, with its diff.
        self.assertTrue(result['changed'], result)
        with open(spec) as f:
            self.assertEqual(f.read(), 'kind: Host\n# old\n')
        (call,) = self.fake.calls()
        self.assertNotEqual(call['argv'][2], spec)
        self.assertEqual(call['spec'], 'kind: Host\n# new\n')
        spec_diff = result['diff'][0]
        self.assertEqual((spec_diff['before'], spec_diff['after']), ('kind: Host\n# old\n', 'kind: Host\n# new\n'))

    def test_a_refused_plan_puts_the_previous_spec_back(self):
        self.fake.command('plan', 'plan-delete.json', rc=2)
        spec = self.spec_file('kind: Host\n# before\n')
        result = self.run_module(spec=spec, spec_content='kind: Host\n# drops a service\n')
        self.assertEqual(result['_status'], 'failed', result)
        self.assertEqual(self.fake.calls()[0]['spec'], 'kind: Host\n# drops a service\n')
        with open(spec) as f:
            self.assertEqual(f.read(), 'kind: Host\n# before\n')

    def test_spec_content_alone_is_planned_from_a_private_file(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        result = self.run_module(check=True, spec_content='kind: Host\n')
        self.assertTrue(result['changed'], result)
        (call,) = self.fake.calls()
        self.assertEqual(call['spec'], 'kind: Host\n')
        self.assertFalse(os.path.exists(call['argv'][2]), 'the private spec file must be removed')

    def test_spec_content_alone_with_persist_is_refused(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        result = self.run_module(spec_content={'kind': 'Host', 'persist': {}})
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('persist', result['msg'])
        self.assertEqual(self.fake.calls(), [])

    # --- saved plans -----------------------------------------------------------------

    def test_present_with_plan_file_applies_that_file(self):
        self.fake.command('apply', 'apply-ok.json', rc=0)
        plan = self.path('reviewed.plan.json')
        shutil.copyfile(os.path.join(FIXTURES, 'saved-plan-create.json'), plan)
        result = self.run_module(plan_file=plan)
        self.assertTrue(result['changed'], result)
        self.assertEqual([c['argv'] for c in self.fake.calls()], [['apply', plan, '--format', 'json']])

    def test_a_saved_plan_deleting_a_service_is_refused(self):
        self.fake.command('apply', 'apply-ok.json', rc=0)
        plan = self.path('reviewed.plan.json')
        shutil.copyfile(os.path.join(FIXTURES, 'saved-plan-delete.json'), plan)
        result = self.run_module(plan_file=plan)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('8080', result['msg'])
        self.assertEqual(self.fake.calls(), [])


    # --- review of #17: planning never writes, deletions, spec restore -------------

    def test_planned_with_spec_content_leaves_the_spec_file_and_names_it_in_the_plan(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        spec = self.spec_file('kind: Host\n# reviewed\n')
        out = self.path('reviewed.plan.json')
        result = self.run_module(diff=True, spec=spec, spec_content='kind: Host\n# new\n', state='planned', plan_file=out)
        self.assertEqual(result['_status'], 'ok', result)
        self.assertTrue(result['changed'])
        self.assertTrue(result['spec_changed'])
        self.assertEqual(self.read(spec), 'kind: Host\n# reviewed\n', 'state=planned must not write spec')
        (call,) = self.fake.calls()
        self.assertEqual(call['spec'], 'kind: Host\n# new\n')
        self.assertNotEqual(call['argv'][2], spec)
        self.assertEqual(call['argv'][call['argv'].index('--spec-path') + 1], spec)
        self.assertEqual(call['argv'][-2:], ['--out', out])

    def test_planned_on_a_fresh_host_needs_no_spec_directory(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        spec = self.path('absent-dir/director.yaml')
        result = self.run_module(spec=spec, spec_content='kind: Host\n', state='planned')
        self.assertEqual(result['_status'], 'ok', result)
        self.assertFalse(os.path.exists(self.path('absent-dir')))

    def test_check_mode_plans_the_private_copy_under_the_spec_path(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        spec = self.spec_file('kind: Host\n# old\n')
        self.run_module(check=True, spec=spec, spec_content='kind: Host\n# new\n')
        (call,) = self.fake.calls()
        self.assertEqual(call['argv'][call['argv'].index('--spec-path') + 1], spec)

    def test_an_unchanged_spec_is_planned_in_place_without_spec_path(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        spec = self.spec_file('kind: Host\n')
        self.run_module(check=True, spec=spec, spec_content='kind: Host\n')
        (call,) = self.fake.calls()
        self.assertEqual(call['argv'][2], spec)
        self.assertNotIn('--spec-path', call['argv'])

    def test_check_mode_with_planned_and_plan_file_writes_no_plan(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.saved_plan('saved-plan-create.json')
        out = self.path('reviewed.plan.json')
        result = self.run_module(check=True, spec=self.spec_file(), state='planned', plan_file=out)
        self.assertEqual(result['_status'], 'ok', result)
        self.assertTrue(result['changed'])
        self.assertNotIn('--out', self.fake.calls()[0]['argv'])
        self.assertFalse(os.path.exists(out), 'check mode must not write plan_file')
        self.assertIn('would be saved to %s' % out, result['msg'])

    def test_check_mode_with_a_saved_plan_reports_its_changes_without_apply(self):
        plan = self.path('reviewed.plan.json')
        shutil.copyfile(os.path.join(FIXTURES, 'saved-plan-create.json'), plan)
        result = self.run_module(check=True, plan_file=plan)
        self.assertEqual(result['_status'], 'ok', result)
        self.assertTrue(result['changed'])
        self.assertEqual(self.fake.calls(), [])

    def test_check_mode_refuses_a_deleting_plan_as_the_real_run_does(self):
        self.fake.command('plan', 'plan-delete.json', rc=2)
        result = self.run_module(check=True, spec=self.spec_file())
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('tcp 203.0.113.100:8080', result['msg'])
        self.assertNotIn('rc', result, 'a refusal by the module is no failed command')
        self.assertEqual(self.fake.subcommands(), ['plan'])

    def test_check_mode_refuses_a_deleting_saved_plan(self):
        plan = self.path('reviewed.plan.json')
        shutil.copyfile(os.path.join(FIXTURES, 'saved-plan-delete.json'), plan)
        result = self.run_module(check=True, plan_file=plan)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('8080', result['msg'])

    def test_check_mode_planned_does_not_refuse_deletions(self):
        self.fake.command('plan', 'plan-delete.json', rc=2)
        result = self.run_module(check=True, spec=self.spec_file(), state='planned')
        self.assertEqual(result['_status'], 'ok', result)
        self.assertIn('tcp 203.0.113.100:8080', result['deletions'])

    def test_plan_file_with_spec_content_is_refused_for_present(self):
        plan = self.path('reviewed.plan.json')
        shutil.copyfile(os.path.join(FIXTURES, 'saved-plan-create.json'), plan)
        result = self.run_module(plan_file=plan, spec=self.spec_file(), spec_content='kind: Host\n')
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('cannot be given too', result['msg'])
        self.assertEqual(self.fake.calls(), [])

    def test_plan_file_with_spec_keeps_the_applied_spec_after_exit_0(self):
        self.fake.command('apply', 'apply-ok.json', rc=0)
        plan = self.path('reviewed.plan.json')
        shutil.copyfile(os.path.join(FIXTURES, 'saved-plan-create.json'), plan)
        spec = self.spec_file('kind: Host\n# old\n')
        result = self.run_module(plan_file=plan, spec=spec)
        self.assertEqual(result['_status'], 'ok', result)
        self.assertTrue(result['spec_changed'])
        self.assertEqual(self.read(spec), json.loads(fixture('saved-plan-create.json'))['spec_text'])

    def test_plan_file_made_from_another_spec_path_is_refused_before_apply(self):
        saved = json.loads(fixture('saved-plan-create.json'))
        saved['spec']['path'] = '/etc/lvs-converge/elsewhere.yaml'
        plan = self.path('reviewed.plan.json')
        with open(plan, 'w') as f:
            json.dump(saved, f)
        spec = self.spec_file('kind: Host\n# old\n')
        result = self.run_module(plan_file=plan, spec=spec)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('was made from the spec at /etc/lvs-converge/elsewhere.yaml', result['msg'])
        self.assertEqual(self.fake.calls(), [], 'nothing may run when the paths differ')
        self.assertEqual(self.read(spec), 'kind: Host\n# old\n')

    def test_plan_file_that_is_not_an_object_is_refused(self):
        plan = self.path('list.plan.json')
        with open(plan, 'w') as f:
            f.write('[]')
        result = self.run_module(plan_file=plan)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('not a plan', result['msg'])
        self.assertEqual(self.fake.calls(), [])

    def test_plan_file_with_spec_leaves_the_spec_when_apply_changed_nothing(self):
        self.fake.command('apply', rc=1, stderr='error: saved plan is stale\n')
        plan = self.path('reviewed.plan.json')
        shutil.copyfile(os.path.join(FIXTURES, 'saved-plan-create.json'), plan)
        spec = self.spec_file('kind: Host\n# old\n')
        result = self.run_module(plan_file=plan, spec=spec)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertEqual(self.read(spec), 'kind: Host\n# old\n')

    def saved_plan_deleting(self, services):
        saved = json.loads(fixture('saved-plan-delete.json'))
        saved['plan']['changes'] = [dict(subsystem='ipvs', change='deleteService', service=s, before={}) for s in services]
        path = self.path('deleting.plan.json')
        with open(path, 'w') as f:
            json.dump(saved, f)
        return path

    def test_saved_plan_deletions_name_fwmark_and_ipv6_services_and_skip_health_services(self):
        self.fake.command('apply', 'apply-ok.json', rc=0)
        plan = self.saved_plan_deleting([
            {'fwmark': 7, 'family': 'ipv4'},
            {'protocol': 'udp', 'address': '2001:db8::1', 'port': 53},
            {'fwmark': 0x4C560001, 'family': 'ipv4'},
        ])
        result = self.run_module(plan_file=plan)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertEqual(result['deletions'], ['fwmark 7 (ipv4)', 'udp [2001:db8::1]:53'])
        self.assertNotIn(str(0x4C560001), result['msg'])
        self.assertEqual(self.fake.calls(), [])

    def test_a_saved_plan_deleting_only_a_health_service_is_applied(self):
        self.fake.command('apply', 'apply-ok.json', rc=0)
        plan = self.saved_plan_deleting([{'fwmark': 0x4C560000, 'family': 'ipv6'}, {'fwmark': 0x4C56FFFF, 'family': 'ipv4'}])
        result = self.run_module(plan_file=plan)
        self.assertEqual(result['_status'], 'ok', result)
        self.assertEqual(result['deletions'], [])
        self.assertEqual(self.fake.subcommands(), ['apply'])

    def test_plan_deletions_skip_health_check_path_services(self):
        plan = json.loads(fixture('plan-delete.json'))
        for c in plan['resource_changes']:
            if c.get('kind') == 'ipvs service' and c.get('action') == 'delete':
                c['kind'] = 'ipvs health-check path service'
        self.write_fake('plan.json', json.dumps(plan))
        self.fake.command('plan', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        result = self.run_module(spec=self.spec_file())
        self.assertEqual(result['_status'], 'ok', result)
        self.assertEqual(result['deletions'], [])

    def test_take_over_is_passed_to_apply(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        self.run_module(spec=self.spec_file(), take_over=True)
        self.assertEqual(self.fake.calls()[1]['argv'][-1], '--take-over')
        self.fake_reset()
        self.run_module(spec=self.spec_file())
        self.assertNotIn('--take-over', self.fake.calls()[1]['argv'])

    def fake_reset(self):
        os.unlink(os.path.join(self.fake.dir, 'calls.jsonl'))

    def run_with_new_spec(self, apply_rc, apply_json=None, spec_exists=True):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', apply_json, rc=apply_rc)
        spec = self.spec_file('kind: Host\n# before\n') if spec_exists else self.path('new-spec.yaml')
        result = self.run_module(spec=spec, spec_content='kind: Host\n# after\n')
        return spec, result

    def test_the_spec_is_put_back_after_apply_exit_3(self):
        spec, result = self.run_with_new_spec(3, 'apply-rolled-back.json')
        self.assertEqual(result['_status'], 'failed', result)
        self.assertEqual(self.read(spec), 'kind: Host\n# before\n')
        self.assertFalse(result['spec_changed'])

    def test_the_spec_is_put_back_after_apply_exit_1(self):
        spec, result = self.run_with_new_spec(1)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertEqual(self.read(spec), 'kind: Host\n# before\n')

    def test_a_spec_that_did_not_exist_is_removed_on_failure(self):
        spec, result = self.run_with_new_spec(1, spec_exists=False)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertEqual(self.fake.calls()[0]['spec'], 'kind: Host\n# after\n')
        self.assertFalse(os.path.exists(spec))

    def test_the_spec_is_kept_after_apply_exit_4(self):
        spec, result = self.run_with_new_spec(4, 'apply-partial.json')
        self.assertEqual(result['_status'], 'failed', result)
        self.assertTrue(result['changed'])
        self.assertEqual(self.read(spec), 'kind: Host\n# after\n')

    def test_the_spec_is_kept_after_apply_exit_0(self):
        spec, result = self.run_with_new_spec(0, 'apply-ok.json')
        self.assertEqual(result['_status'], 'ok', result)
        self.assertEqual(self.read(spec), 'kind: Host\n# after\n')

    def test_the_spec_is_kept_when_a_successful_apply_prints_no_json(self):
        self.write_fake('apply.json', 'not json\n')
        spec, result = self.run_with_new_spec(0)
        self.assertEqual(result['_status'], 'failed', result)
        self.assertTrue(result['changed'])
        self.assertEqual(self.read(spec), 'kind: Host\n# after\n')

    def test_present_removes_its_workdir_and_saved_plan(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        self.run_module(spec=self.spec_file())
        saved = self.fake.calls()[1]['argv'][1]
        self.assertFalse(os.path.exists(saved))
        self.assertFalse(os.path.exists(os.path.dirname(saved)))

    def test_a_missing_binary_still_returns_the_always_keys(self):
        result = self.run_module(spec=self.spec_file(), binary='/nonexistent/lvs-converge')
        self.assertEqual(result['_status'], 'failed', result)
        for key in ('cmd', 'spec_changed', 'rolled_back', 'partial'):
            self.assertIn(key, result)

class PlaybookTest(AnsibleRunTest):
    """examples/ansible/site.yml as the OS lab runs it, with the fake binary through extra vars."""

    def playbook(self, *extra):
        spec = os.path.join(self.tmp, 'etc', 'director.yaml')
        overrides = {
            'lvs_converge_binary': self.fake.binary,
            'lvs_converge_spec_path': spec,
            'lvs_converge_environment': {'LVS_CONVERGE_FAULT': 'refuse-at-change:3'},
        }
        argv = ['ansible-playbook', '-i', os.path.join(REPO, 'examples/ansible/inventory.ini'), os.path.join(REPO, 'examples/ansible/site.yml')]
        argv += ['-e', json.dumps(overrides)] + list(extra)
        env = dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK='default')  # with its PLAY RECAP
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        return proc, spec

    def test_the_example_playbook_converges_with_the_spec_from_group_vars(self):
        self.fake.command('plan', 'plan-create.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        proc, spec = self.playbook()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        counts = recap(proc.stdout)
        # The spec's directory, the spec file with the plan and apply: changed; nothing failed.
        self.assertEqual((counts['changed'], counts['failed']), (2, 0), proc.stdout)
        with open(spec) as f:
            kept = f.read()
        self.assertIn('203.0.113.100', kept)
        plan_call, apply_call = self.fake.calls()
        self.assertEqual(plan_call['spec'], kept)
        self.assertEqual(apply_call['argv'][0], 'apply')
        # The role's environment reaches the binary (the lab's fault injection goes this way).
        self.assertEqual(apply_call['fault'], 'refuse-at-change:3')

    def test_the_example_playbook_fails_on_a_deletion_unless_allowed(self):
        self.fake.command('plan', 'plan-delete.json', rc=2)
        self.fake.command('apply', 'apply-ok.json', rc=0)
        proc, _ = self.playbook()
        self.assertNotEqual(proc.returncode, 0, proc.stdout)
        self.assertEqual(self.fake.subcommands(), ['plan'])
        proc, _ = self.playbook('-e', 'lvs_converge_allow_delete=true')
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(self.fake.subcommands(), ['plan', 'plan', 'apply'])


class RealBinaryTest(AnsibleRunTest):
    """The module against the real binary's `plan`, offline: a wrapper adds `--observed
    SNAPSHOT` (fixtures/host-*.yaml) to each plan, so the flags the module passes are checked
    by the real command line and the JSON is today's. apply needs a kernel with IPVS: the OS
    lab runs it."""

    def real(self, snapshot):
        binary = os.environ.get('LVS_CONVERGE_BIN')
        if not binary:
            self.fail('LVS_CONVERGE_BIN is not set (run.sh sets it to target/debug/lvs-converge)')
        wrapper = os.path.join(self.tmp, 'lvs-converge-observed')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\n[ "$1" = plan ] && exec %s "$@" --observed %s\nexec %s "$@"\n'
                    % (binary, os.path.join(FIXTURES, snapshot), binary))
        os.chmod(wrapper, 0o755)
        return wrapper

    def test_check_mode_diff_of_a_fresh_host_from_the_real_plan(self):
        spec = os.path.join(FIXTURES, 'director.yaml')
        result = self.run_module(check=True, diff=True, spec=spec, binary=self.real('host-fresh.yaml'))
        self.assertEqual(result['_status'], 'ok', result)
        self.assertTrue(result['changed'])
        self.assertEqual(result['plan_rc'], 2)
        self.assertIn('create ipvs service %s' % VIP_SERVICE, result['diff'][-1]['after'])

    def test_a_converged_host_from_the_real_plan(self):
        spec = os.path.join(FIXTURES, 'director.yaml')
        result = self.run_module(check=True, spec=spec, binary=self.real('host-converged.yaml'))
        self.assertEqual(result['_status'], 'ok', result)
        self.assertFalse(result['changed'])

    def test_planned_saves_the_real_binarys_plan_file(self):
        out = self.path('director.plan.json')
        result = self.run_module(spec=os.path.join(FIXTURES, 'director.yaml'), state='planned', plan_file=out, binary=self.real('host-fresh.yaml'))
        self.assertEqual(result['_status'], 'ok', result)
        with open(out) as f:
            self.assertEqual(json.load(f)['format'], 'lvs-converge/saved-plan')

    def test_the_real_deleting_plan_is_refused_before_apply(self):
        result = self.run_module(spec=os.path.join(FIXTURES, 'director-prune.yaml'), binary=self.real('host-extra-service.yaml'))
        self.assertEqual(result['_status'], 'failed', result)
        self.assertEqual(result['deletions'], ['tcp 203.0.113.100:8080'])
        self.assertEqual([argv[1] for argv in result['cmd']], ['plan'])

    def test_check_mode_plans_the_boot_unit_for_the_kept_spec_not_the_private_copy(self):
        with open(os.path.join(FIXTURES, 'director.yaml')) as f:
            content = f.read() + 'persist:\n  bootUnit: true\n'
        spec = self.path('etc/director.yaml')  # absent: check mode plans a private copy
        result = self.run_module(check=True, diff=True, spec=spec, spec_content=content, binary=self.real('host-fresh.yaml'))
        self.assertEqual(result['_status'], 'ok', result)
        after = result['diff'][-1]['after']
        self.assertIn('apply -f %s' % spec, after)
        self.assertNotIn('lvs_converge.', after, 'the boot unit must not name the private copy')

    def test_an_invalid_spec_fails_with_the_real_error_and_hint(self):
        result = self.run_module(check=True, spec_content='apiVersion: lvs-converge/v1\nkind: Host\nipvss: {}\n', binary=self.real('host-fresh.yaml'))
        self.assertEqual(result['_status'], 'failed', result)
        self.assertIn('ipvss', result['msg'])
        self.assertIn('hint', result['stderr'])


if __name__ == '__main__':
    unittest.main(verbosity=2)
