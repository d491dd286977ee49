"""Build step beyond pyproject.toml: the config templates become package data of the wheel.

kamailio-cfg/, freeswitch-conf/ and dialplan/ stay at the repository's top level, the one source of truth; at build
time ``build_py`` copies them into ``controlplane/_templates/`` of the build tree, so the wheel carries them and
``controlplane kamailio render`` / ``controlplane freeswitch render`` work without a checkout. In an editable install
nothing is copied: controlplane.config_templates reads the checkout's folders. The same list is this command's
source files, so an sdist carries the folders too.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TEMPLATE_DIRS = ("kamailio-cfg", "freeswitch-conf", "dialplan")  # as controlplane/config_templates.py
PACKAGED = os.path.join("controlplane", "_templates")


class build_py_with_templates(build_py):  # noqa: N801 - named as the command it extends
    def _template_mapping(self) -> dict[str, str]:
        """{file in the build tree: file in the checkout} for every template file."""
        mapping = {}
        for name in TEMPLATE_DIRS:
            for src in sorted(Path(name).rglob("*")):
                if src.is_file() and "__pycache__" not in src.parts:
                    mapping[os.path.join(self.build_lib, PACKAGED, str(src))] = str(src)
        return mapping

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the checkout's folders are read in place
            return
        for target, src in self._template_mapping().items():
            self.mkpath(os.path.dirname(target))
            self.copy_file(src, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else outputs + list(self._template_mapping())

    def get_output_mapping(self) -> dict[str, str]:
        mapping = super().get_output_mapping()
        if not self.editable_mode:
            mapping.update(self._template_mapping())
        return dict(sorted(mapping.items()))

    def get_source_files(self) -> list[str]:
        return super().get_source_files() + list(self._template_mapping().values())


setup(cmdclass={"build_py": build_py_with_templates})
