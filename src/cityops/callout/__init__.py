"""The AI voice outbound-call system (CALL-1..CALL-5): call lists and the compliance gate,
telephony (simulator and a SIP user agent), voice prompts, campaigns and statistics."""
