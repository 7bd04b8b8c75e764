"""Placeholder wired into registry.py; replaced by its owner in issue #6."""

from fastapi import APIRouter

router = APIRouter()
