"""Out-of-tree extensions for tests/test_one_file_extension.py: each module is one new thing and
its one registration line, loaded the way a user's would be (TASER_PLUGINS)."""
