# castgate: Nuke reads this at startup, GUI or not (farm renders too). No UI here, nothing slow:
# it only puts the CastgatePlate gizmo on the plugin path. A failure is printed, never raised,
# so Nuke always starts.
import sys
import traceback

try:
    import castgate_nuke

    castgate_nuke.register_gizmos()
except Exception:
    traceback.print_exc(file=sys.stderr)
