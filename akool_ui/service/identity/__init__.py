"""Identity: who a visitor is (an owner: a keyed hash of their key or browser id, never the key) and which
Akool client acts for them (their own key's, else the server's).

Public surface: ``Credentials``, ``ClientPool``, ``OwnerHasher``, ``is_browser_id``, ``new_browser_id``,
``clean_api_key``, ``MAX_API_KEY_LENGTH``, and the offline demo's account (``DemoAccount``).
"""

from .clients import ClientPool
from .credentials import MAX_API_KEY_LENGTH, Credentials, clean_api_key
from .demo import DemoAccount, load_demo_account
from .owners import OwnerHasher, is_browser_id, load_owner_key, new_browser_id

__all__ = ["ClientPool", "Credentials", "clean_api_key", "MAX_API_KEY_LENGTH", "OwnerHasher", "is_browser_id",
           "new_browser_id", "load_owner_key", "DemoAccount", "load_demo_account"]
