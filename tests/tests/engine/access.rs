//! Identity and access: who may call what, within which scope.
