"""Strict serializer fields: a JSON integer is an integer, a boolean a boolean."""

from __future__ import annotations

from rest_framework import serializers

from common.timefmt import iso


class StrictIntegerField(serializers.IntegerField):
    """An integer that is a JSON integer: no "12", no 12.0, no true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if "\x00" in data:
            raise serializers.ValidationError("NUL characters are not allowed.")
        return super().to_internal_value(data)


class TimestampField(serializers.DateTimeField):
    """A timestamp as the API writes it: ``common.timefmt.iso`` (UTC, ``Z``), the one
    format of every output serializer; None stays null."""

    def to_representation(self, value):
        return iso(value)
