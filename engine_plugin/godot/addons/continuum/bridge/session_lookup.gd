## Finding the ContinuumSession a node talks through: the node at its [code]session_path[/code],
## or the "Continuum" autoload when that is empty; and the editor's warnings when there is none.
## Shared by every node that talks to the backend (ContinuumWorld, ContinuumGenerator,
## ContinuumIdentity, ContinuumMemory).

const ContinuumSessionScript = preload("res://addons/continuum/bridge/continuum_session.gd")

## Where the session of the autoload named "Continuum" lives.
const AUTOLOAD_PATH := ^"/root/Continuum"


## The session at [param session_path] seen from [param node] (the autoload when the path is
## empty), or null when the node is outside the tree or nothing is there.
static func find(node: Node, session_path: NodePath) -> ContinuumSessionScript:
	if not node.is_inside_tree():
		return null
	var path := AUTOLOAD_PATH if session_path.is_empty() else session_path
	return node.get_node_or_null(path) as ContinuumSessionScript


## The configuration warnings of [param node], which needs a session at [param session_path].
static func warnings(node: Node, session_path: NodePath) -> PackedStringArray:
	var problems := PackedStringArray()
	if session_path.is_empty():
		if not ProjectSettings.has_setting("autoload/Continuum") and find(node, session_path) == null:
			problems.append(
				"No session: set session_path to a ContinuumSession, or enable the Continuum "
				+ "plugin (it adds the \"Continuum\" autoload)."
			)
	elif node.is_inside_tree() and find(node, session_path) == null:
		problems.append("session_path does not point to a ContinuumSession node.")
	return problems


## Moves [param callable] from [param old]'s signal [param signal_name] to [param new]'s
## (either may be null, [param old] also freed): what a node does when the session or world it
## listens to is replaced.
static func reconnect(
	old: Object, new: Object, signal_name: StringName, callable: Callable
) -> void:
	if old != null and is_instance_valid(old) and old.is_connected(signal_name, callable):
		old.disconnect(signal_name, callable)
	if new != null:
		new.connect(signal_name, callable)
