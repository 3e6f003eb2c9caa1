"""Operator tools beside the scheduled run: the alert-path self-test, canary doctor, canary discover."""
