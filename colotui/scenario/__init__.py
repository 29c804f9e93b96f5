"""Procedures as data: scenario files, their rendering per QEMU, and the engine that runs them."""

from .engine import Decision, Engine, PreflightError, RunResult, StepState, StepUpdate
from .loader import catalogue, find_scenario, load_scenario, offers
from .model import Scenario, Step

__all__ = ["Decision", "Engine", "PreflightError", "RunResult", "Scenario", "Step", "StepState", "StepUpdate",
           "catalogue", "find_scenario", "load_scenario", "offers"]
