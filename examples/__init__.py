"""Two demo relying parties that use leerID through Authlib's Flask OAuth client, and `leerid demo`.

examples.platforms  the two platforms: Leerplatform Rekenrups and Schoolportaal
examples.rp         the one RP factory both are built with: create_rp(platform, config)
examples.rp_sessions  the platforms' server-side sessions, which a back-channel logout can end
examples.backchannel  the platforms' check of leerID's logout tokens (Back-Channel Logout 1.0 §2.6)
examples.serve      run one platform: python -m examples.serve rekenrups|schoolportaal
examples.demo_data  the demo school, accounts and clients, loaded idempotently
examples.processes  starting, watching and stopping the demo's servers
examples.run        run_demo(): what `leerid demo` does
"""
