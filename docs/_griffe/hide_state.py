"""A griffe extension for the API reference: a class's undocumented attributes stay off the page.

Those are its instance state (`self.tracker`, `self.wait`, ...) and flags for hat's own
machinery; the attributes a user reads are documented, in an Attributes section of the class's
docstring or with a docstring of their own, and stay.
"""

import griffe


class HideUndocumentedAttributes(griffe.Extension):
    """Remove each class's attributes that have no docstring, once its members are loaded."""

    def on_class_members(self, *, cls: griffe.Class, **kwargs) -> None:
        for name, member in list(cls.members.items()):
            if not member.is_alias and member.is_attribute and member.docstring is None:
                cls.del_member(name)
