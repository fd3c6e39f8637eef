from mmpr_builder.cli import main

main()
