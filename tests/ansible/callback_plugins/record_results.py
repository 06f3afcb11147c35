# -*- coding: utf-8 -*-
"""Test helper: appends every task result, unfiltered, as one JSON line to the file named by
LVS_TEST_RESULTS. The stdout callbacks drop keys (`failed`, `diff`) from what they print, and
Debian's ansible-core has no json callback, so the tests read results from here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: record_results
type: aggregate
short_description: Writes raw task results as JSON lines to $LVS_TEST_RESULTS (tests only)
description: Used by tests/ansible/test_module.py.
requirements:
  - LVS_TEST_RESULTS set to a writable path
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record_results'
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status):
        path = os.environ.get('LVS_TEST_RESULTS')
        if not path:
            return
        entry = dict(result._result, _status=status, _task=result._task.get_name(), _host=result._host.get_name())
        with open(path, 'a') as f:
            f.write(json.dumps(entry, default=str) + '\n')

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')
