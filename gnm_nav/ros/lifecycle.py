"""Process entry points for nodes, and lifecycle autostart (configure + activate on our own, as Nav2's autostart)."""
from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from gnm_nav.common.errors import GnmNavError

SPIN_PAUSE_S = 0.001


def spin_paced(executor: Executor, context: Context | None = None, until: threading.Event | None = None) -> None:
    """Spin until the context shuts down, pausing briefly after each callback is handed out.

    MultiThreadedExecutor.spin() hands a ready callback to its worker pool and at once waits again; while the
    worker runs the callback, the waiting loop finds the same entity still ready and spins on the GIL, starving
    the worker. Measured here (a sim-time timer that publishes, odometry at 40 Hz): unpaced, 9-34 of ~120
    timer periods fired and 50-110 of ~300 odometry messages were handled in some runs; paced, all of them in
    every run. The pause caps the node at ~1,000 callbacks/s, far above what any node here needs."""
    context = context or rclpy.get_default_context()
    while context.ok() and not (until is not None and until.is_set()):
        executor.spin_once(timeout_sec=0.1)
        time.sleep(SPIN_PAUSE_S)


def spin_node(factory: Callable[[], Node], argv: list[str] | None = None) -> int:
    """Init rclpy, build the node, spin until SIGINT/SIGTERM or shutdown, then stop it in order: the executor
    first (no callback runs any more), then the node's `before_exit()` if it has one (while it can still
    publish: a final zero command), then destroy_node (nodes save state there). A second signal during
    that does not cut it short.

    A node that cannot be built from its parameters (a GnmNavError) exits with one line and status 2.
    """
    rclpy.init(args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    node: Node | None = None
    try:
        try:
            node = factory()
        except GnmNavError as exc:
            rclpy.logging.get_logger("gnm_nav").fatal(f"cannot start: {exc}")
            return 2
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        try:
            spin_paced(executor, until=stop)
        finally:
            executor.shutdown(timeout_sec=5.0)
        finishing = getattr(node, "before_exit", None)
        if finishing is not None and rclpy.ok():
            finishing()
    except ExternalShutdownException:
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


class ConfigurableNode(LifecycleNode):
    """A lifecycle node whose configure step loads files that may be missing or wrong.

    Subclasses implement `_configure()`; a GnmNavError/ValueError/FileNotFoundError from it fails the
    transition with one log line, and `_reason` keeps the why for /diagnostics. The node stays up.
    """

    _reason = "not configured"
    configure_failed = False  # the last configure failed (diagnostics: ERROR rather than WARN)

    def _configure(self) -> None:
        raise NotImplementedError

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (GnmNavError, ValueError, FileNotFoundError) as exc:
            self._reason = f"cannot configure, the node stays inactive: {exc}"
            self.configure_failed = True
            self.get_logger().error(self._reason)
            return TransitionCallbackReturn.FAILURE
        self._reason, self.configure_failed = "configured, inactive", False
        return TransitionCallbackReturn.SUCCESS


def schedule_autostart(node: LifecycleNode) -> None:
    """Configure and activate once the executor is spinning; logs (and stays put) if a transition fails."""
    state: dict = {}

    def start() -> None:
        state["timer"].cancel()
        node.destroy_timer(state["timer"])
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().error("autostart: configure failed; the node stays unconfigured (see the error above)")
            return
        if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().error("autostart: activate failed; the node stays inactive (see the error above)")

    state["timer"] = node.create_timer(0.0, start)
