import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "standin"))  # esl_client.EslApp: a tiny outbound-ESL test application

from media import media_node_factory  # noqa: E402,F401  (fixture)
