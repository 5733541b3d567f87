-- One spelling for every audit action, `noun.verb` (#22 item 12): the records written before it
-- used `deploy`, `undeploy`, `share`, `revoke-share`, `embed` and `revoke-embed`.
UPDATE audit SET action = 'deployment.create' WHERE action = 'deploy';
UPDATE audit SET action = 'deployment.undeploy' WHERE action = 'undeploy';
UPDATE audit SET action = 'share.create' WHERE action = 'share';
UPDATE audit SET action = 'share.revoke' WHERE action = 'revoke-share';
UPDATE audit SET action = 'embed.create' WHERE action = 'embed';
UPDATE audit SET action = 'embed.revoke' WHERE action = 'revoke-embed';
