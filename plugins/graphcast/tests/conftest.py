"""GraphCast test helpers: the golden arrays, and a private graph cache per test session
(the fixtures live in gc_helpers, which earthzoo-dgl's tests share)."""

from gc_helpers import _graph_cache, ckpt, gio  # noqa: F401 - fixtures
