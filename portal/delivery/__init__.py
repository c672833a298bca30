"""The portal's side of delivering submissions to the back office: the `okienko outbox` commands. The
dispatcher, its adapters and the outbox itself are backoffice_adapter/."""
