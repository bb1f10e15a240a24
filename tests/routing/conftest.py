from routing.support import two_agents

__all__ = ["two_agents"]
