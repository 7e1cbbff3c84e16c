"""ditto_worker: runs antgroup/ditto-talkinghead's online StreamSDK out of process for the
dittotalkinghead element's `ditto` backend.

Modules: protocol (wire format shared with plugins/ditto/ditto-worker-protocol.h), windows (element
chunks -> upstream's online audio windows, latency arithmetic), frames (the shared-memory frame ring),
upstream (locating and loading StreamSDK), session (one stream on one SDK), worker (one process, one
SDK, one session at a time), pool (N warm workers behind one socket).
"""
