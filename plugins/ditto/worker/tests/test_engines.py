"""Which GPU code a plugin library needs to run here (engines.plugin_runs_here)."""
import unittest

from ditto_worker.engines import plugin_runs_here


class PluginArchTest(unittest.TestCase):
    def test_cubins_run_on_later_minors_of_their_major_only(self):
        self.assertTrue(plugin_runs_here(["80"], [], (8, 6)))       # A100 code on an A10 / RTX 30
        self.assertTrue(plugin_runs_here(["86"], [], (8, 9)))       # ... and on Ada
        self.assertFalse(plugin_runs_here(["89"], [], (8, 0)))      # Ada code on an A100: no
        self.assertFalse(plugin_runs_here(["80", "86", "89"], [], (9, 0)))  # no Hopper code
        self.assertTrue(plugin_runs_here(["90"], [], (9, 0)))

    def test_ptx_is_compiled_for_newer_gpus(self):
        self.assertTrue(plugin_runs_here(["89"], ["89"], (9, 0)))   # H100/H200 JIT from compute_89
        self.assertFalse(plugin_runs_here([], ["89"], (8, 0)))


if __name__ == "__main__":
    unittest.main()
