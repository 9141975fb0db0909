//! What every panel writes through: the messages to the trainer, the editor and the recorder, as
//! one system parameter. Below every panel; it names no panel.

use super::bridge::SendCommand;
use super::editor::EditorAction;
use super::record::Record;
use crate::trainer::Command;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

#[derive(SystemParam)]
pub(super) struct Outputs<'w> {
    pub(super) commands: MessageWriter<'w, SendCommand>,
    pub(super) editor: MessageWriter<'w, EditorAction>,
    pub(super) record: MessageWriter<'w, Record>,
}

impl Outputs<'_> {
    pub(super) fn send(&mut self, command: Command) {
        self.commands.write(SendCommand(command));
    }
}
