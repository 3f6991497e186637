"""What several test modules share: builders of run folders, sample frames
and archives, the loopback servers' helpers, and the end-to-end lab's CLI.
A test module imports from here, never from another test module."""
