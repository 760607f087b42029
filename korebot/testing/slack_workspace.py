"""The fake Slack workspace: its channels, messages, threads and Home tabs, and the Web API
methods that read and change them (chat.*, conversations.*, views.publish, auth.test).

`FakeSlack` owns one and calls it with its lock held; a method answers a result dict or
raises `ApiError`. Block Kit problems are also appended to `block_errors`.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

from korebot.testing.slack_validation import (
    ApiError,
    block_problems,
    flag,
    page_limit,
    valid_metadata,
    view_problems,
)

__all__ = ["SlackWorkspace"]

Message = dict[str, Any]
Method = Callable[[dict[str, Any]], dict[str, Any]]

_FIRST_TS_MICROS = 1_700_000_000_000_000


@dataclass
class _Channel:
    exists: bool = True
    member: bool = True
    archived: bool = False


class SlackWorkspace:
    """Channels and messages in memory; not thread-safe (FakeSlack locks around it)."""

    def __init__(self, *, team_id: str, bot_user_id: str, block_errors: list[str]) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id[1:]
        self.block_errors = block_errors
        self._channels: dict[str, _Channel] = {}
        self._top: dict[str, list[Message]] = {}
        self._replies: dict[tuple[str, str], list[Message]] = {}
        self._index: dict[tuple[str, str], Message] = {}
        self._ts_counter = itertools.count(1)
        self._homes: dict[str, dict[str, Any]] = {}

    def methods(self) -> dict[str, Method]:
        """The Web API methods served, by name (a new dict)."""
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "views.publish": self._views_publish,
        }

    def set_channel(self, channel: str, *, member: bool, exists: bool, archived: bool) -> None:
        """Configure a channel; unknown channels exist and have the bot as a member."""
        self._channels[channel] = _Channel(exists=exists, member=member, archived=archived)

    def add_message(
        self, channel: str, text: str, *, user: str, thread_ts: str | None, blocks: list[Any]
    ) -> str:
        """Store a message written by `user`; returns its ts."""
        message = self._new_message(text=text, blocks=blocks, user=user, thread_ts=thread_ts)
        self._store(self._dm(channel), message, broadcast=False)
        return cast(str, message["ts"])

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of a channel, oldest first, each with its "replies"."""
        channel = self._dm(channel)
        result = []
        for message in self._top.get(channel, []):
            view = self._view(channel, message, metadata=True)
            view["replies"] = [copy.deepcopy(r) for r in self._thread_of(channel, message)]
            result.append(view)
        return result

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies in the thread under `ts`, oldest first (not the parent)."""
        return copy.deepcopy(self._replies.get((self._dm(channel), ts), []))

    # ---------------------------------------------------------------- methods

    def home(self, user: str) -> dict[str, Any] | None:
        """The Home tab last published for the user (a copy), if any."""
        view = self._homes.get(user)
        return copy.deepcopy(view) if view is not None else None

    # ---------------------------------------------------------------- methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake Team",
            "user": "korebot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "post")
        text, blocks = self._content("chat.postMessage", args)
        metadata = valid_metadata(args)
        thread_ts = str(args.get("thread_ts") or "") or None
        message = self._new_message(
            text=text, blocks=blocks, user=self.bot_user_id, thread_ts=thread_ts
        )
        if metadata is not None:
            message["metadata"] = metadata
        if args.get("attachments"):
            message["attachments"] = copy.deepcopy(args["attachments"])
        self._store(channel, message, broadcast=flag(args.get("reply_broadcast")))
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._view(channel, message, metadata=True),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "edit")
        message = self._find(channel, args)
        if message.get("user") != self.bot_user_id:
            raise ApiError("cant_update_message")
        text = str(args["text"] or "") if "text" in args else str(message["text"])
        blocks = message["blocks"]
        if "blocks" in args:
            blocks = self._valid_blocks("chat.update", args["blocks"])
        if not text and not blocks and not args.get("attachments"):
            raise ApiError("no_text")
        if blocks and not text:
            self.block_error("chat.update", "blocks without a text fallback")
        metadata = valid_metadata(args)
        message["text"] = text
        message["blocks"] = copy.deepcopy(blocks)
        if metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": text,
            "message": self._view(channel, message, metadata=True),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self._resolve(args, "post")
        if not args.get("user"):
            raise ApiError("user_not_found")
        self._content("chat.postEphemeral", args)
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "edit")
        message = self._find(channel, args)
        if message.get("user") != self.bot_user_id:
            raise ApiError("cant_delete_message")
        ts = message["ts"]
        del self._index[(channel, ts)]
        for bucket in (self._top.get(channel, []), *self._replies.values()):
            if any(m is message for m in bucket):
                bucket[:] = [m for m in bucket if m is not message]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "read")
        message = self._find(channel, {"ts": args.get("message_ts")})
        link = f"https://fake.slack.test/archives/{channel}/p{message['ts'].replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = args.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            if args.get("channel"):
                return {"ok": True, "channel": {"id": str(args["channel"])}}
            raise ApiError("users_list_not_supplied")
        ids = [str(u) for u in users]
        channel_id = "D" + ids[0] if len(ids) == 1 else "G" + "".join(sorted(ids))
        return {"ok": True, "channel": {"id": channel_id}}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user_id")
        if not isinstance(user, str) or not user.startswith(("U", "W")):
            raise ApiError("invalid_arguments")
        view = args.get("view")
        if isinstance(view, str):  # a form-encoded call sends it as JSON text
            try:
                view = json.loads(view)
            except ValueError:
                raise ApiError("invalid_arguments") from None
        problems = view_problems(view)
        for problem in problems:
            self.block_error("views.publish", problem)
        if problems or not isinstance(view, dict):
            raise ApiError("invalid_blocks", errors=problems)
        self._homes[user] = copy.deepcopy(view)
        return {"ok": True, "view": {"id": f"V{len(self._homes):08d}", **view}}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "read")
        message = self._index.get((channel, str(args.get("ts") or "")))
        if message is None:
            raise ApiError("thread_not_found")
        with_metadata = flag(args.get("include_all_metadata"))
        if message.get("thread_ts", message["ts"]) != message["ts"]:
            thread = [message]
        else:
            thread = [message, *self._thread_of(channel, message)]
        limit = page_limit(args.get("limit"))
        views = [self._view(channel, m, metadata=with_metadata) for m in thread[:limit]]
        return {"ok": True, "messages": views, "has_more": len(thread) > limit}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args, "read")
        with_metadata = flag(args.get("include_all_metadata"))
        newest_first = list(reversed(self._top.get(channel, [])))
        limit = page_limit(args.get("limit"))
        views = [self._view(channel, m, metadata=with_metadata) for m in newest_first[:limit]]
        return {"ok": True, "messages": views, "has_more": len(newest_first) > limit}

    # ----------------------------------------------------------------- helpers

    def _resolve(self, args: dict[str, Any], mode: Literal["post", "edit", "read"]) -> str:
        """The channel a call addresses, checked against the configured channel state."""
        channel = str(args.get("channel") or "")
        if not channel:
            raise ApiError("channel_not_found")
        if channel[0] in "UW":
            return "D" + channel
        state = self._channels.get(channel, _Channel())
        if not state.exists:
            raise ApiError("channel_not_found")
        if mode != "read" and state.archived:
            raise ApiError("is_archived")
        if mode == "post" and not state.member:
            raise ApiError("not_in_channel")
        return channel

    @staticmethod
    def _dm(channel: str) -> str:
        return "D" + channel if channel[:1] in ("U", "W") else channel

    def _find(self, channel: str, args: dict[str, Any]) -> Message:
        message = self._index.get((channel, str(args.get("ts") or "")))
        if message is None:
            raise ApiError("message_not_found")
        return message

    def _content(self, method: str, args: dict[str, Any]) -> tuple[str, list[Any]]:
        """Text and validated blocks of a new message; raises no_text / invalid_blocks."""
        text = str(args.get("text") or "")
        blocks = self._valid_blocks(method, args.get("blocks"))
        if not text and not blocks and not args.get("attachments"):
            raise ApiError("no_text")
        if blocks and not text:
            self.block_error(method, "blocks without a text fallback")
        return text, blocks

    def _valid_blocks(self, method: str, blocks: Any) -> list[Any]:
        if blocks is None or blocks == "":
            return []
        problems = self.check_blocks(method, blocks)
        if problems:
            raise ApiError("invalid_blocks", errors=problems)
        return list(blocks)

    def check_blocks(self, method: str, blocks: Any) -> list[str]:
        """Validate a blocks payload with slack_sdk; problems also go to `block_errors`."""
        problems = block_problems(blocks)
        for problem in problems:
            self.block_error(method, problem)
        return problems

    def block_error(self, method: str, problem: str) -> None:
        self.block_errors.append(f"{method}: {problem}")

    def _next_ts(self) -> str:
        micros = _FIRST_TS_MICROS + 100 * next(self._ts_counter)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_message(
        self, *, text: str, blocks: list[Any], user: str, thread_ts: str | None
    ) -> Message:
        message: Message = {
            "type": "message",
            "ts": self._next_ts(),
            "user": user,
            "text": text,
            "blocks": copy.deepcopy(blocks),
            "team": self.team_id,
        }
        if user == self.bot_user_id:
            message["bot_id"] = self.bot_id
        if thread_ts:
            message["thread_ts"] = thread_ts
        return message

    def _store(self, channel: str, message: Message, *, broadcast: bool) -> None:
        thread_ts = message.get("thread_ts")
        if thread_ts:
            parent = self._index.get((channel, thread_ts))
            if parent is not None and parent.get("thread_ts"):
                thread_ts = message["thread_ts"] = parent["thread_ts"]
            self._replies.setdefault((channel, thread_ts), []).append(message)
            if broadcast:
                message["subtype"] = "thread_broadcast"
                self._top.setdefault(channel, []).append(message)
        else:
            self._top.setdefault(channel, []).append(message)
        self._index[(channel, message["ts"])] = message

    def _thread_of(self, channel: str, message: Message) -> list[Message]:
        if message.get("thread_ts", message["ts"]) != message["ts"]:
            return []
        return self._replies.get((channel, message["ts"]), [])

    def _view(self, channel: str, message: Message, *, metadata: bool) -> Message:
        """A copy of a stored message as the API shows it."""
        view = copy.deepcopy(message)
        if not metadata:
            view.pop("metadata", None)
        replies = self._thread_of(channel, message)
        if replies:
            view["thread_ts"] = message["ts"]
            view["reply_count"] = len(replies)
            view["latest_reply"] = replies[-1]["ts"]
        return view
