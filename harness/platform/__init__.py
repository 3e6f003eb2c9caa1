"""What the Webordinary platform looks like to the checks: ECS state, the queue flow, ALB rules, topic
policies, white-box evidence."""
