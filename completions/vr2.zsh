#compdef vr2

_vr2_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _VR2_COMPLETE=complete_zsh vr2)
}

compdef _vr2_completion vr2
