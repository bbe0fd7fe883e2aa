"""aiortc media worker pool (SFU): forwards RTP without decoding or re-encoding.

plan      the forwarding plan as plain data (RoomPolicy → who gets whose audio/video)
messages  typed, strictly parsed web ↔ worker messages (newline-delimited JSON), handshake
speaker   active speaker from ssrc-audio-level, with hysteresis
forward   up track (publisher) → down tracks (subscribers), packet-level rewriting
sdpmap    keeps the browser's payload types / extension ids in worker offers
peer      one participant's RTCPeerConnection; room: peers + policy → plan applied
ice       which remote ICE candidates a worker may send to
aiortc_hooks  every aiortc/aioice internal the package relies on, version-checked
worker    `python -m media.worker`; pool: MediaPool used from Flask (threads)
bot       test/bench participant sending pre-encoded VP8/H.264 + Opus; bench: load figures
"""
