# castgate: Nuke reads this when its UI starts. The CastGate menu, the Nodes toolbar entry and the
# dockable panel; a failure is printed, never raised, so Nuke still starts.
import sys
import traceback

try:
    import castgate_nuke

    castgate_nuke.install()
except Exception:
    traceback.print_exc(file=sys.stderr)
